"""Geothermal hot-spring bathhouse: predict the soaking-pool temperature (deg C)
from six readings taken at the intake.  Hand-written SGD-with-momentum wrapped in
Lookahead (k=5, alpha=0.5), warmup from lr=0 then cosine warm restarts (SGDR).
Prints one JSON object per report."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2027)
mx.random.seed(2027)


def make_pool_readings(n):
    air = rng.uniform(-8.0, 28.0, n)            # air temperature, deg C
    spring = rng.uniform(52.0, 71.0, n)         # source temperature, deg C
    inflow = rng.uniform(0.4, 3.2, n)           # litres per second
    wind = rng.gamma(2.0, 2.2, n)               # m/s
    depth = rng.uniform(0.6, 1.4, n)            # metres
    since_clean = rng.uniform(0.0, 14.0, n)     # days since the pipe was cleaned
    # made-up physics: mixing of spring water with heat loss to air and wind
    mix = inflow / (inflow + 0.9 * depth)
    fouling = np.exp(-since_clean / 18.0)
    pool = (air + (spring - air) * mix * fouling
            - 0.35 * wind * np.sqrt(np.maximum(spring - air, 1.0)) / (1.0 + depth)
            + rng.normal(0.0, 0.45, n))
    x = np.stack([air, spring, inflow, wind, depth, since_clean], axis=1)
    return x.astype(np.float32), pool.astype(np.float32)


x_all, y_all = make_pool_readings(1400)
x_tr, y_tr = x_all[:1100], y_all[:1100]
x_va, y_va = x_all[1100:], y_all[1100:]
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
x_tr = mx.array((x_tr - mu) / sd)
x_va = mx.array((x_va - mu) / sd)
t_tr = mx.array((y_tr - y_mu) / y_sd)
t_va = mx.array((y_va - y_mu) / y_sd)

model = nn.Sequential(
    nn.Linear(6, 48), nn.Tanh(),
    nn.Linear(48, 48), nn.Tanh(),
    nn.Linear(48, 1),
)


def mse(model, x, t):
    return nn.losses.mse_loss(model(x).squeeze(-1), t)


loss_and_grad = nn.value_and_grad(model, mse)

# every trainable tensor must receive a gradient before we start
_, g0 = loss_and_grad(model, x_tr[:64], t_tr[:64])
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

MOMENTUM = 0.9
PEAK_LR = 0.08
WARMUP = 20
T0 = 60
K_SYNC, ALPHA = 5, 0.5
STEPS = 1800
BATCH = 64


def lr_at(step):
    """linear warmup from exactly 0, then SGDR cycles of 60, 120, 240, 480, 960 steps"""
    if step < WARMUP:
        return PEAK_LR * step / WARMUP, 0, step
    s = step - WARMUP
    cycle, length = 1, T0
    while s >= length:
        s -= length
        cycle += 1
        length *= 2
    return 0.5 * PEAK_LR * (1.0 + math.cos(math.pi * s / length)), cycle, s


velocity = tree_map(mx.zeros_like, model.trainable_parameters())
slow = tree_map(lambda p: p * 1.0, model.trainable_parameters())
mx.eval(velocity, slow)

baseline_mse_degc2 = float(np.mean((y_va - y_mu) ** 2))
tic = time.perf_counter()
for step in range(STEPS):
    lr, cycle, t_in = lr_at(step)
    idx = mx.array(rng.integers(0, x_tr.shape[0], BATCH))
    loss, grads = loss_and_grad(model, x_tr[idx], t_tr[idx])
    velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
    fast = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
    model.update(fast)
    if (step + 1) % K_SYNC == 0:
        slow = tree_map(lambda s, f: s + ALPHA * (f - s), slow, model.trainable_parameters())
        model.update(tree_map(lambda s: s * 1.0, slow))
    mx.eval(model.parameters(), velocity, slow, loss)

    if step % 60 == 0 or step == STEPS - 1:
        va = float(mse(model, x_va, t_va))
        print(json.dumps({
            "step": step, "cycle": cycle, "t_in_cycle": t_in, "lr": round(lr, 5),
            "train_mse_z": round(float(loss), 4), "val_mse_z": round(va, 4),
            "val_rmse_degC": round(math.sqrt(va) * y_sd, 3),
            "baseline_rmse_degC": round(math.sqrt(baseline_mse_degc2), 3),
        }))

final = float(mse(model, x_va, t_va))
print(json.dumps({"event": "done", "seconds": round(time.perf_counter() - tic, 2),
                  "val_rmse_degC": round(math.sqrt(final) * y_sd, 3),
                  "baseline_rmse_degC": round(math.sqrt(baseline_mse_degc2), 3),
                  "explained_pct": round(100.0 * (1.0 - final * y_sd ** 2 / baseline_mse_degc2), 1)}))
