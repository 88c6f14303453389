"""Wool classing: four fleece lines from ten fibre-test readings.

A trunk run trains with AdamW, writes a checkpoint (weights + optimizer state),
and three branches then continue from that same checkpoint with different
optimizers so their last epochs can be compared side by side.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(21)
mx.random.seed(21)

LINES = ["superfine", "fine", "medium", "strong"]
N_TRAIN, N_VAL = 6000, 2000
FLIP = 0.08  # share of bale tickets written up by a tired classer


def make_fleeces(n):
    line = rng.integers(0, 4, n)
    micron = np.array([16.5, 18.5, 21.0, 24.0])[line] + rng.normal(0, 1.1, n)
    cv_dia = 18 + 1.5 * line + rng.normal(0, 2.5, n)         # % diameter CV
    staple_mm = 75 + 8 * line + rng.normal(0, 9, n)
    strength = 30 + 4 * line + rng.normal(0, 6, n)           # N/ktex
    yield_pct = 68 - 2.5 * line + rng.normal(0, 4, n)
    curv = 95 - 12 * line + rng.normal(0, 10, n)             # deg/mm
    vm_pct = rng.gamma(2.0, 0.6, n)                          # vegetable matter
    comfort = 99.5 - 4.0 * line ** 1.4 + rng.normal(0, 1.5, n)
    tip_mm = 4 + 0.8 * line + rng.normal(0, 1.5, n)
    colour = 9 + 0.3 * line + rng.normal(0, 0.8, n)
    x = np.stack([micron, cv_dia, staple_mm, strength, yield_pct, curv,
                  vm_pct, comfort, tip_mm, colour], 1).astype(np.float32)
    noisy = line.copy()
    flip = rng.random(n) < FLIP
    noisy[flip] = rng.integers(0, 4, flip.sum())
    return x, noisy.astype(np.int32), line.astype(np.int32)


x_tr, y_tr, _ = make_fleeces(N_TRAIN)
x_va, y_va, clean_va = make_fleeces(N_VAL)
mu, sd = x_tr.mean(0), x_tr.std(0)
X_tr, X_va = mx.array((x_tr - mu) / sd), mx.array((x_va - mu) / sd)
Y_tr, Y_va = mx.array(y_tr), mx.array(y_va)
ticket_agree = float((y_va == clean_va).mean()) * 100
majority = float(np.bincount(y_va).max() / len(y_va)) * 100
print(f"fleeces {N_TRAIN}/{N_VAL}; tickets agreeing with the true line "
      f"{ticket_agree:.1f}% (ceiling for val acc); majority line {majority:.1f}%")


class Classer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(10, 48), nn.Linear(48, 48), nn.Linear(48, 4)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


BATCH = 50
STEPS_PER_EPOCH = N_TRAIN // BATCH


def run_epochs(tag, model, opt, first_epoch, n_epochs):
    lg = nn.value_and_grad(model, xent)
    for ep in range(first_epoch, first_epoch + n_epochs):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = lg(model, X_tr[idx], Y_tr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        logits = model(X_va)
        vx = xent(model, X_va, Y_va).item()
        acc = (mx.argmax(logits, -1) == Y_va).mean().item() * 100
        lr = opt.learning_rate.item()
        print(f"{tag} epoch {ep:2d}  opt.step {int(opt.step.item()):5d}  "
              f"lr {lr:.2e}  train_xent {tot / STEPS_PER_EPOCH:.4f}  "
              f"val_xent {vx:.4f}  val_acc {acc:5.1f}%")
    return acc


# ---------------------------------------------------------------- trunk
TRUNK_EPOCHS = 4
model = Classer()
mx.eval(model.parameters())
_, g = nn.value_and_grad(model, xent)(model, X_tr[:BATCH], Y_tr[:BATCH])
flat_g = tree_flatten(g)
print(f"grad check: {len(flat_g)} leaves, zero leaves: "
      f"{[k for k, v in flat_g if not mx.any(v != 0).item()] or 'none'}")
print(f"untrained val_xent {xent(model, X_va, Y_va).item():.4f} "
      f"(uniform guess {np.log(4):.4f})")

trunk_opt = optim.AdamW(
    optim.cosine_decay(2e-3, TRUNK_EPOCHS * STEPS_PER_EPOCH * 2, 1e-4),
    weight_decay=0.01)
run_epochs("trunk          ", model, trunk_opt, 1, TRUNK_EPOCHS)

ckpt = tempfile.mkdtemp()
w_path = os.path.join(ckpt, "classer.safetensors")
s_path = os.path.join(ckpt, "adamw_state.safetensors")
model.save_weights(w_path)
mx.save_safetensors(s_path, dict(tree_flatten(trunk_opt.state)))
print(f"checkpoint written after epoch {TRUNK_EPOCHS}: "
      f"{sorted(os.listdir(ckpt))}")
del model, trunk_opt

# ---------------------------------------------------------------- branches
BRANCH_EPOCHS = 4
results = {}


def fresh_from_ckpt():
    m = Classer()
    m.load_weights(w_path)
    mx.eval(m.parameters())
    return m


# branch a: same AdamW, state restored, so its step counter continues
m = fresh_from_ckpt()
opt = optim.AdamW(
    optim.cosine_decay(2e-3, TRUNK_EPOCHS * STEPS_PER_EPOCH * 2, 1e-4),
    weight_decay=0.01)
opt.state = tree_unflatten(list(mx.load(s_path).items()))
print(f"branch a: AdamW resumed at step {int(opt.step.item())}, "
      f"val_xent {xent(m, X_va, Y_va).item():.4f}")
results["a AdamW resumed"] = run_epochs(" \u251c\u2500 a adamw  ", m, opt,
                                        TRUNK_EPOCHS + 1, BRANCH_EPOCHS)

# branch b: plain SGD with momentum, brand new state, warm-up from exactly 0
m = fresh_from_ckpt()
warm = 60
opt = optim.SGD(
    optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, warm),
         optim.cosine_decay(0.08, BRANCH_EPOCHS * STEPS_PER_EPOCH - warm, 1e-3)],
        [warm]),
    momentum=0.9)
print(f"branch b: SGD momentum, fresh state, val_xent "
      f"{xent(m, X_va, Y_va).item():.4f}")
results["b SGD fresh"] = run_epochs(" \u251c\u2500 b sgd    ", m, opt,
                                    TRUNK_EPOCHS + 1, BRANCH_EPOCHS)

# branch c: Lion with a fresh state
m = fresh_from_ckpt()
opt = optim.Lion(optim.cosine_decay(1e-4, BRANCH_EPOCHS * STEPS_PER_EPOCH, 1e-6),
                 weight_decay=0.1)
print(f"branch c: Lion, fresh state, val_xent {xent(m, X_va, Y_va).item():.4f}")
results["c Lion fresh"] = run_epochs(" \u2514\u2500 c lion   ", m, opt,
                                     TRUNK_EPOCHS + 1, BRANCH_EPOCHS)

print("summary (val accuracy against noisy tickets, higher is better):")
for k, v in results.items():
    print(f"  {k:16s} {v:5.1f}%   ceiling {ticket_agree:.1f}%   "
          f"majority {majority:.1f}%")
