"""Canal lock chamber fills: 3-way outcome (on time / slow fill / gate leak flagged).

Synthetic lock-keeper log with 7 readings per fill. A dropout MLP is trained with AdamW
under a linear warmup that starts at exactly 0, then cosine decay. Validation accuracy
(higher is better) drives early stopping and a best-weights file; the best weights are
reloaded before the final test report.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

FEATURES = ["upper_head_m", "lower_head_m", "paddle_open_frac", "sluice_age_yr",
            "gate_seal_score", "boat_len_m", "wind_ms"]


def make_split(n):
    x = np.empty((n, 7), dtype=np.float32)
    x[:, 0] = rng.uniform(1.0, 4.5, n)
    x[:, 1] = rng.uniform(0.2, 1.5, n)
    x[:, 2] = rng.uniform(0.3, 1.0, n)
    x[:, 3] = rng.gamma(2.0, 12.0, n)
    x[:, 4] = rng.uniform(0.0, 1.0, n)
    x[:, 5] = rng.uniform(6.0, 22.0, n)
    x[:, 6] = rng.gamma(2.0, 2.5, n)
    head = x[:, 0] - x[:, 1]
    slow = 1.4 * head / (x[:, 2] + 0.2) - 2.2 + 0.02 * x[:, 3] + 0.05 * x[:, 6]
    leak = 3.0 * (0.45 - x[:, 4]) + 0.025 * x[:, 3] + 0.04 * x[:, 5] - 1.2
    logits = np.stack([np.zeros(n), slow, leak], 1)
    logits += rng.gumbel(size=logits.shape) * 0.9
    y = logits.argmax(1).astype(np.int32)
    return x, y


xtr, ytr = make_split(900)
xva, yva = make_split(1500)
xte, yte = make_split(3000)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva, xte = [(a - mu) / sd for a in (xtr, xva, xte)]
xtr, ytr, xva, yva, xte, yte = map(mx.array, (xtr, ytr, xva, yva, xte, yte))

counts = np.bincount(np.array(ytr), minlength=3)
majority = int(counts.argmax())
base_val = float(mx.mean(yva == majority).item())
print(f"class shares (train): {np.round(counts / counts.sum(), 3).tolist()}")
print(f"majority-class baseline val acc: {base_val:.3f}")


class FillNet(nn.Module):
    def __init__(self, d_in=7, h=128, p=0.3):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.l3 = nn.Linear(h, 3)
        self.drop = nn.Dropout(p)

    def __call__(self, x):
        x = self.drop(nn.gelu(self.l1(x)))
        x = self.drop(nn.gelu(self.l2(x)))
        return self.l3(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    mx.eval(loss, acc)
    model.train()
    return loss.item(), acc.item()


model = FillNet()
mx.eval(model.parameters())
BATCH = 32
EPOCHS = 120
steps_per_epoch = (xtr.shape[0] + BATCH - 1) // BATCH
warm = 5 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - warm, 1e-5)],
    [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

tmpdir = tempfile.mkdtemp()
best_path = os.path.join(tmpdir, "best.safetensors")
PATIENCE, MIN_DELTA = 12, 0.002
best_acc, best_epoch, waited = -1.0, -1, 0

t0 = time.time()
model.train()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    run, nb = 0.0, 0
    for i in range(0, xtr.shape[0], BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    vloss, vacc = evaluate(model, xva, yva)
    if epoch == 1:
        print(f"epoch 1 lr at end {opt.learning_rate.item():.2e} (warmup began at 0)")
    improved = vacc > best_acc + MIN_DELTA
    if improved:
        best_acc, best_epoch, waited = vacc, epoch, 0
        model.save_weights(best_path)
    else:
        waited += 1
    if improved or epoch % 5 == 0:
        tag = "*" if improved else " "
        print(f"epoch {epoch:3d}{tag} train_loss {run / nb:.4f}  val_loss {vloss:.4f}  "
              f"val_acc {vacc:.3f}  (baseline {base_val:.3f})  wait {waited}/{PATIENCE}")
    if waited >= PATIENCE:
        print(f"stopping at epoch {epoch}: val_acc has not beaten {best_acc:.3f} "
              f"(epoch {best_epoch}) by {MIN_DELTA} for {PATIENCE} epochs")
        break

last_loss, last_acc = evaluate(model, xte, yte)
model.load_weights(best_path)
mx.eval(model.parameters())
best_loss, best_test = evaluate(model, xte, yte)
print(f"test (last weights, epoch {epoch}): loss {last_loss:.4f} acc {last_acc:.3f}")
print(f"test (best weights, epoch {best_epoch}): loss {best_loss:.4f} acc {best_test:.3f}")
print(f"test majority baseline acc: {float(mx.mean(yte == majority).item()):.3f}")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(tmpdir, ignore_errors=True)
