"""Typewriter repair bench: how many characters a fabric ribbon types before the
impression falls below legibility, from bench readings of the machine.

Progress goes through a real tqdm bar; a line is written above the bar only when the
validation error improves by at least 1 %.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from tqdm import tqdm

rng = np.random.default_rng(392)
N_TRAIN, N_VAL = 5000, 1200
FEATURES = ["ribbon_width_mm", "ink_load", "typebar_force", "platen_hardness",
            "room_humidity", "cotton_share", "strikes_per_min", "ribbon_reverse"]


def make_rows(n):
    width = rng.choice([13.0, 16.0], n)
    ink = rng.uniform(0.4, 1.0, n)
    force = rng.normal(3.0, 0.6, n)
    hard = rng.uniform(60, 95, n)
    humid = rng.uniform(20, 80, n)
    cotton = rng.uniform(0, 1, n)
    spm = rng.uniform(80, 320, n)
    reverse = rng.integers(0, 2, n).astype(np.float64)
    kchars = (40 * ink * (width / 13.0) * (1 + 0.4 * cotton)
              * np.exp(-0.12 * (force - 3.0) ** 2)
              * (1 + 0.006 * (humid - 50)) * (1 - 0.002 * (hard - 75))
              + 9 * reverse * ink - 0.01 * (spm - 200))
    kchars = kchars + rng.normal(0, 1.2, n)
    x = np.stack([width, ink, force, hard, humid, cotton, spm, reverse], 1)
    return x.astype(np.float32), kchars.astype(np.float32)


xtr, ytr = make_rows(N_TRAIN)
xva, yva = make_rows(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array(yva)

print(f"bench log: {N_TRAIN} ribbons to fit, {N_VAL} held out; "
      f"life {ytr.mean():.1f} +- {ytr.std():.1f} thousand characters")
base_mae = float(np.abs(yva - ytr.mean()).mean())
print(f"reference: predicting the shop average gives val MAE {base_mae:.2f} kchar")


class RibbonNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.tanh(self.inp(x))
        h = h + nn.tanh(self.mid(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = RibbonNet(len(FEATURES))
mx.eval(model.parameters())

EPOCHS, BATCH = 24, 100
steps_per_epoch = N_TRAIN // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = steps_per_epoch * 2
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.08, warm),
     optim.cosine_decay(0.08, total_steps - warm, 0.004)], [warm])
opt = optim.Adagrad(learning_rate=lr_sched)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)


def val_mae():
    pred = model(Xva) * ysd + ymu
    return (mx.abs(pred - Yva)).mean().item()


best_mae, best_epoch, best_params = float("inf"), -1, None
t0 = time.time()
bar = tqdm(total=total_steps, desc="ribbons", ascii=True, ncols=88,
           file=sys.stdout, mininterval=0.5)
step = 0
for epoch in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(N_TRAIN))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = order[b * BATCH:(b + 1) * BATCH]
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix_str(f"huber {run / (b + 1):.4f}")
    mae = val_mae()
    if mae < best_mae * 0.99:
        best_mae, best_epoch = mae, epoch
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        tqdm.write(f"  epoch {epoch:2d}: val MAE {mae:.3f} kchar  (new best, "
                   f"lr {opt.learning_rate.item():.4f})", file=sys.stdout)
bar.close()

last_mae = val_mae()
model.update(best_params)
mx.eval(model.parameters())
restored = val_mae()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"finished {total_steps} steps in {time.time() - t0:.1f}s ({n_params} weights)")
print(f"last epoch val MAE {last_mae:.3f} kchar; restored epoch {best_epoch} -> "
      f"{restored:.3f} kchar vs shop average {base_mae:.2f}")
