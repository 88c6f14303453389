"""Hearing-aid fitting clinic: triage of follow-up complaints.

Each fitting visit is described by 10 measurements (real-ear insertion gain at
four bands vs. prescription target, vent diameter, earmold fit score, feedback
margin, occlusion effect in dB, patient age, days since fitting).  The model
predicts which of four complaint groups the patient ends up in:

    0 = whistling/feedback   1 = own voice boomy (occlusion)
    2 = too soft             3 = no complaint

Small clinic data set on purpose, so the net overfits after a while. The run
keeps the best validation checkpoint, stops after `PATIENCE` epochs without a
better validation loss, reloads the best weights and reports held-out metrics
next to a majority-class baseline. At the end it also shows a Monte-Carlo
dropout estimate (dropout left on at test time, 30 passes averaged).
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
N_TRAIN, N_VAL, N_TEST = 360, 400, 800
MAX_EPOCHS = 80
BATCH = 24
PATIENCE = 6
LABEL_SMOOTH = 0.1
CLASSES = ["feedback", "occlusion", "too_soft", "fine"]

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_visits(n):
    gain_dev = rng.normal(0, 4.0, size=(n, 4))          # dB vs target at 500/1k/2k/4k
    vent = rng.uniform(0.0, 3.0, size=(n, 1))          # mm
    fit = rng.uniform(0, 1, size=(n, 1))               # earmold seal score
    fb_margin = rng.normal(8, 5, size=(n, 1))          # dB
    occl = rng.normal(6, 4, size=(n, 1))               # dB
    age = rng.uniform(20, 90, size=(n, 1))
    days = rng.uniform(1, 60, size=(n, 1))
    x = np.concatenate([gain_dev, vent, fit, fb_margin, occl, age, days], 1)
    s_fb = 0.35 * gain_dev[:, 3] - 0.30 * fb_margin[:, 0] + 1.2 * vent[:, 0] - 1.0 * fit[:, 0]
    s_oc = 0.40 * occl[:, 0] - 1.1 * vent[:, 0] + 1.5 * fit[:, 0] - 0.1 * gain_dev[:, 0]
    s_soft = -0.35 * gain_dev[:, 1:3].sum(1) + 0.03 * (age[:, 0] - 55)
    s_fine = np.full(n, 0.8) - 0.01 * days[:, 0]
    logits = np.stack([s_fb, s_oc, s_soft, s_fine], 1) / 0.5
    logits += rng.gumbel(size=logits.shape)
    y = logits.argmax(1)
    return x.astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make_visits(N_TRAIN)
x_va, y_va = make_visits(N_VAL)
x_te, y_te = make_visits(N_TEST)
mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
x_tr, x_va, x_te = [(a - mu) / sd for a in (x_tr, x_va, x_te)]
x_tr, y_tr, x_va, y_va, x_te, y_te = map(mx.array, (x_tr, y_tr, x_va, y_va, x_te, y_te))


class TriageNet(nn.Module):
    def __init__(self, d_in=10, width=192, n_cls=4, p=0.25):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.bn1 = nn.BatchNorm(width)
        self.l2 = nn.Linear(width, width)
        self.bn2 = nn.BatchNorm(width)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(width, n_cls)

    def __call__(self, x):
        h = self.drop(nn.relu(self.bn1(self.l1(x))))
        h = self.drop(nn.relu(self.bn2(self.l2(h))))
        return self.out(h)


def train_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=LABEL_SMOOTH, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    nll = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    return nll.item(), acc.item()


model = TriageNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, train_loss)

# baselines
counts = np.bincount(np.array(y_tr), minlength=4)
majority = int(counts.argmax())
prior = counts / counts.sum()
base_acc_val = float(np.mean(np.array(y_va) == majority))
base_nll_val = float(-np.mean(np.log(prior[np.array(y_va)])))
print(f"train class counts {counts.tolist()}  majority class = {CLASSES[majority]}")
print(f"baseline (class prior)  val nll {base_nll_val:.4f}  val acc {base_acc_val:.3f}")

ckpt_dir = tempfile.mkdtemp(None, "triage_")
ckpt = os.path.join(ckpt_dir, "best.safetensors")
best_val, best_epoch, bad = float("inf"), -1, 0
t0 = time.time()
for epoch in range(1, MAX_EPOCHS + 1):
    model.train()
    perm = mx.array(rng.permutation(N_TRAIN))
    run, nb = 0.0, 0
    for i in range(0, N_TRAIN - BATCH + 1, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    model.eval()
    v_nll, v_acc = evaluate(model, x_va, y_va)
    tag = ""
    if v_nll < best_val - 1e-4:
        best_val, best_epoch, bad = v_nll, epoch, 0
        model.save_weights(ckpt)
        tag = "  * saved"
    else:
        bad += 1
    print(f"epoch {epoch:3d}  train loss(smoothed) {run / nb:.4f}  "
          f"val nll {v_nll:.4f}  val acc {v_acc:.3f}  patience {bad}/{PATIENCE}{tag}")
    if bad >= PATIENCE:
        print(f"early stop at epoch {epoch}: no better val nll since epoch {best_epoch}")
        break

last_nll, last_acc = evaluate(model, x_va, y_va)
model.load_weights(ckpt)
model.eval()
r_nll, r_acc = evaluate(model, x_va, y_va)
t_nll, t_acc = evaluate(model, x_te, y_te)
print(f"last-epoch weights  val nll {last_nll:.4f}  val acc {last_acc:.3f}")
print(f"restored epoch {best_epoch}  val nll {r_nll:.4f} (best logged {best_val:.4f})  val acc {r_acc:.3f}")
print(f"test  nll {t_nll:.4f}  acc {t_acc:.3f}   | prior baseline test acc "
      f"{float(np.mean(np.array(y_te) == majority)):.3f}")

# Monte-Carlo dropout: dropout on, BatchNorm on running statistics
model.eval()
model.drop.train()
probs = mx.zeros((N_TEST, 4))
for _ in range(30):
    probs = probs + mx.softmax(model(x_te), axis=-1)
probs = probs / 30
mc_acc = mx.mean(mx.argmax(probs, 1) == y_te).item()
mc_nll = -mx.mean(mx.log(mx.take_along_axis(probs, y_te[:, None], 1) + 1e-9)).item()
model.eval()
print(f"mc-dropout (30 passes)  test nll {mc_nll:.4f}  acc {mc_acc:.3f}")
print(f"done in {time.time() - t0:.1f}s")
