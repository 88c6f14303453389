"""Creamery batch log: one shared trunk, three heads.

Per milk batch (8 synthetic readings) predict
  * butterfat yield in kg per 100 L   (Huber on a standardised target)
  * spoiled within 5 days             (binary, BCE with logits)
  * coliform colonies on the QC plate (Poisson count, log-rate head)

Schedule: AdamW, learning rate rises linearly from exactly 0 over the first
80 steps, then halves every 400 steps.  Stage A (steps 0-599) trains yield and
spoilage only; the plate-count head joins in stage B with a weight that ramps
from 0 to 1 over 200 steps.  The Poisson term is reported without the log(y!)
constant, so that column is negative once the rate is learned.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL, D = 6000, 1500, 8


def make_batches(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    # made-up creamery laws
    fat = 3.9 + 0.45 * x[:, 0] - 0.25 * x[:, 1] + 0.3 * np.tanh(x[:, 2] * x[:, 3]) + 0.12 * rng.normal(size=n)
    spoil_logit = -1.2 + 1.3 * x[:, 4] + 0.8 * x[:, 5] * (x[:, 4] > 0) - 0.6 * x[:, 1]
    spoil = (rng.random(n) < 1 / (1 + np.exp(-spoil_logit))).astype(np.float32)
    log_rate = 1.1 + 0.6 * x[:, 4] + 0.4 * np.sin(2.0 * x[:, 6]) - 0.3 * x[:, 7]
    colonies = rng.poisson(np.exp(log_rate)).astype(np.float32)
    return x, fat.astype(np.float32), spoil, colonies


xtr, ftr, str_, ctr = make_batches(N_TRAIN)
xva, fva, sva, cva = make_batches(N_VAL)
f_mu, f_sd = ftr.mean(), ftr.std()

Xtr, Ftr, Str, Ctr = map(mx.array, (xtr, (ftr - f_mu) / f_sd, str_, ctr))
Xva, Fva, Sva, Cva = map(mx.array, (xva, (fva - f_mu) / f_sd, sva, cva))


class Creamery(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.fat_head = nn.Linear(hidden, 1)
        self.spoil_head = nn.Linear(hidden, 1)
        self.plate_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return (
            self.fat_head(h).squeeze(-1),
            self.spoil_head(h).squeeze(-1),
            self.plate_head(h).squeeze(-1),
        )


def poisson_term(log_rate, y):
    return (mx.exp(log_rate) - y * log_rate).mean()


def task_losses(model, x, f, s, c):
    pf, ps, pc = model(x)
    l_fat = nn.losses.huber_loss(pf, f, delta=1.0, reduction="mean")
    l_spoil = nn.losses.binary_cross_entropy(ps, s, with_logits=True, reduction="mean")
    l_plate = poisson_term(pc, c)
    return l_fat, l_spoil, l_plate


def total_loss(model, x, f, s, c, w_plate):
    l_fat, l_spoil, l_plate = task_losses(model, x, f, s, c)
    return l_fat + l_spoil + w_plate * l_plate, (l_fat, l_spoil, l_plate)


mx.random.seed(3)
model = Creamery(D)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

STEPS, BS = 1400, 128
STAGE_B, RAMP = 600, 200
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 80), optim.step_decay(3e-3, 0.5, 400)], [80]
)
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, total_loss)


def plate_weight(step):
    if step < STAGE_B:
        return 0.0
    return min(1.0, (step - STAGE_B) / RAMP)


def evaluate():
    pf, ps, pc = model(Xva)
    fat_mae = (mx.abs(pf - Fva).mean() * f_sd).item()
    spoil_acc = ((ps > 0).astype(mx.float32) == Sva).mean().item()
    rate = mx.exp(pc)
    dev = 2 * mx.where(Cva > 0, Cva * mx.log(mx.maximum(Cva, 1e-8) / rate), 0.0) - 2 * (Cva - rate)
    return fat_mae, spoil_acc, dev.mean().item()


# constant predictors on the same validation batches
base_fat_mae = float(np.abs(fva - ftr.mean()).mean())
base_spoil_acc = float(max(sva.mean(), 1 - sva.mean()))
r0 = ctr.mean()
base_dev = float(np.mean(2 * np.where(cva > 0, cva * np.log(np.maximum(cva, 1e-8) / r0), 0.0) - 2 * (cva - r0)))

print(f"creamery log: {N_TRAIN} train / {N_VAL} val batches, {n_params} parameters")
print(f"spoiled share {str_.mean():.3f}, mean colonies {ctr.mean():.2f}, fat mean {f_mu:.3f} sd {f_sd:.3f}")
print("step   lr        w_plate  total    fat_huber spoil_bce plate_poisson")

t0 = time.time()
plate_w0 = np.array(model.plate_head.weight).copy()
for step in range(STEPS):
    idx = mx.array(rng.integers(0, N_TRAIN, size=BS))
    w = plate_weight(step)
    (loss, parts), grads = grad_fn(model, Xtr[idx], Ftr[idx], Str[idx], Ctr[idx], w)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, parts)
    if step % 100 == 0 or step == STEPS - 1:
        lf, ls, lp = (p.item() for p in parts)
        print(f"{step:5d}  {opt.learning_rate.item():.2e}  {w:5.2f}   {loss.item():7.4f}  {lf:8.4f}  {ls:8.4f}  {lp:9.4f}")
    if step == STAGE_B - 1:
        moved = float(np.abs(np.array(model.plate_head.weight) - plate_w0).max())
        mae, acc, dev = evaluate()
        print(f"-- end of stage A: val fat MAE {mae:.3f} kg, spoil acc {acc:.3f}, plate deviance {dev:.3f}"
              f" (plate head max change {moved:.1e})")

mae, acc, dev = evaluate()
print(f"val fat MAE      {mae:.3f} kg/100L   (constant-mean baseline {base_fat_mae:.3f})")
print(f"val spoil acc    {acc:.3f}           (majority baseline {base_spoil_acc:.3f})")
print(f"val plate dev    {dev:.3f}           (constant-rate baseline {base_dev:.3f})")
print(f"done in {time.time() - t0:.1f}s")
