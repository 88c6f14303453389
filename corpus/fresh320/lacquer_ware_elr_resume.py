"""Lacquer-ware workshop: 5-way finish defect class from 9 inspection readings.

Inspectors' labels are noisy (35% of training labels replaced by a random class).
Trained with early-learning regularisation (ELR: per-sample EMA targets of the
model's own predictions, loss = CE + lam * mean(log(1 - <t, p>)), a term that is
negative by construction), AdamW with lr warmup from 0.0 then cosine.
The run is checkpointed after epoch 8, the process state is dropped, and a fresh
model/optimiser are rebuilt from the files to finish epochs 9-16.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CLASSES = ["sound", "orange_peel", "crazing", "blush", "dust_pits"]
N_FEAT = 9
N_TRAIN, N_VAL = 5000, 1000
NOISE = 0.35
EPOCHS, SPLIT_AT = 16, 8
BATCH = 100
LAM, BETA = 3.0, 0.7
PEAK_LR = 3e-3

rng = np.random.default_rng(21)
W_true = rng.normal(0.0, 1.0, size=(N_FEAT, len(CLASSES)))
B_true = rng.normal(0.0, 0.6, size=(N_FEAT, N_FEAT))


def draw(n, seed):
    r = np.random.default_rng(seed)
    x = r.normal(0.0, 1.0, size=(n, N_FEAT)).astype(np.float32)
    logits = np.tanh(x @ B_true) @ W_true * 2.5 + 0.3 * x @ W_true
    y = logits.argmax(1).astype(np.int32)
    return x, y


x_tr, y_clean = draw(N_TRAIN, 1)
x_va, y_va = draw(N_VAL, 2)
flip = rng.random(N_TRAIN) < NOISE
y_noisy = y_clean.copy()
y_noisy[flip] = rng.integers(0, len(CLASSES), size=int(flip.sum()))
agree = float((y_noisy == y_clean).mean())
print(f"train labels matching the true class: {agree:.3f}  (noise floor for train acc)")
print(f"val majority-class baseline acc: {np.bincount(y_va).max() / N_VAL:.3f}")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 128), nn.GELU(),
                                  nn.Linear(128, 128), nn.GELU())
        self.out = nn.Linear(128, len(CLASSES))

    def __call__(self, x):
        return self.out(self.body(x))


def elr_loss(model, x, y, t):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    p = mx.clip(mx.softmax(logits, axis=-1), 1e-4, 1.0 - 1e-4)
    p = p / mx.sum(p, axis=-1, keepdims=True)
    reg = mx.mean(mx.log(1.0 - mx.sum(mx.stop_gradient(t) * p, axis=-1)))
    return ce + LAM * reg, (ce, reg, logits)


steps_per_epoch = N_TRAIN // BATCH
total = steps_per_epoch * EPOCHS
warm = 2 * steps_per_epoch


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, warm),
         optim.cosine_decay(PEAK_LR, total - warm, 1e-5)], [warm])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def accuracy(model, x, y):
    return float((np.array(mx.argmax(model(mx.array(x)), axis=-1)) == y).mean())


def run_epochs(model, opt, targets, first, last, order_rng):
    lg = nn.value_and_grad(model, lambda m, x, y, t: elr_loss(m, x, y, t))
    for epoch in range(first, last):
        perm = order_rng.permutation(N_TRAIN)
        s_tot = s_ce = s_reg = 0.0
        for i in range(0, N_TRAIN, BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = mx.array(x_tr[idx]), mx.array(y_noisy[idx])
            tb = mx.array(targets[idx])
            (loss, (ce, reg, logits)), grads = lg(model, xb, yb, tb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, ce, reg, logits)
            p = np.array(mx.softmax(logits, axis=-1))
            p = p / p.sum(1, keepdims=True)
            targets[idx] = BETA * targets[idx] + (1.0 - BETA) * p
            s_tot += loss.item()
            s_ce += ce.item()
            s_reg += reg.item()
        tr_noisy = accuracy(model, x_tr, y_noisy)
        tr_true = accuracy(model, x_tr, y_clean)
        va = accuracy(model, x_va, y_va)
        print(f"epoch {epoch + 1:2d} lr {float(opt.learning_rate):.5f} loss {s_tot / steps_per_epoch:+.4f} "
              f"(ce {s_ce / steps_per_epoch:.4f} elr {s_reg / steps_per_epoch:+.4f}) "
              f"acc_vs_noisy_labels {tr_noisy:.3f} acc_vs_true {tr_true:.3f} val_acc {va:.3f}")


mx.random.seed(5)
t0 = time.time()
ckpt = tempfile.mkdtemp()
model = Net()
mx.eval(model.parameters())
opt = make_opt()
targets = np.zeros((N_TRAIN, len(CLASSES)), dtype=np.float32)
order_rng = np.random.default_rng(99)
run_epochs(model, opt, targets, 0, SPLIT_AT, order_rng)

model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
np.save(os.path.join(ckpt, "targets.npy"), targets)
print(f"checkpoint written after epoch {SPLIT_AT} (step {int(opt.step)}); dropping in-memory state")
val_before = accuracy(model, x_va, y_va)
del model, opt, targets

model = Net()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
targets = np.load(os.path.join(ckpt, "targets.npy"))
print(f"resumed at step {int(opt.step)}, val_acc {accuracy(model, x_va, y_va):.3f} "
      f"(before save {val_before:.3f})")
run_epochs(model, opt, targets, SPLIT_AT, EPOCHS, order_rng)

print(f"final val_acc {accuracy(model, x_va, y_va):.3f}  "
      f"train acc vs true labels {accuracy(model, x_tr, y_clean):.3f}  "
      f"time {time.time() - t0:.1f}s")
