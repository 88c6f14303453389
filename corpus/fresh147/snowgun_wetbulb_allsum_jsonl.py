"""Snow-gun output model for the night crew.

Predict snow output (m3/h) and conversion (% of water that lands as snow)
from eight readings of a fan snow gun.  Data are simulated here.
Loss is a Huber with a hand-written backward pass; gradients go through
an all_sum so the same script runs on one or more hosts.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(31)
N_TRAIN, N_VAL = 3000, 600


def simulate(n):
    wetbulb = rng.uniform(-14.0, -1.0, n)          # deg C
    rh = rng.uniform(35.0, 95.0, n)                 # %
    pressure = rng.uniform(10.0, 40.0, n)           # bar at the nozzle
    water_t = rng.uniform(0.5, 6.0, n)              # deg C
    wind = rng.gamma(2.0, 1.5, n)                   # m/s
    fan = rng.uniform(0.6, 1.0, n)                  # fraction of max rpm
    altitude = rng.uniform(900.0, 2600.0, n)        # m
    nucleator = (rng.random(n) < 0.5).astype(np.float64)
    cold = np.clip(-wetbulb - 1.5, 0.0, None)
    flow = 2.2 * np.sqrt(pressure) * fan                     # m3/h water
    conv = 100.0 / (1.0 + np.exp(-(0.55 * cold - 2.2 + 0.9 * nucleator
                                    - 0.12 * water_t - 0.08 * wind)))
    snow = flow * conv / 100.0 * 2.3 * (1.0 + 0.00012 * (altitude - 1500.0))
    snow += rng.normal(0.0, 0.6, n)
    conv += rng.normal(0.0, 3.0, n)
    x = np.stack([wetbulb, rh, pressure, water_t, wind, fan, altitude, nucleator], 1)
    y = np.stack([snow, conv], 1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = simulate(N_TRAIN)
xva, yva = simulate(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ymu, ysd = ytr.mean(0), ytr.std(0)
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
YSD = mx.array(ysd)

DELTA = 0.5


@mx.custom_function
def huber(pred, target):
    r = pred - target
    a = mx.abs(r)
    return mx.mean(mx.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)))


@huber.vjp
def huber_vjp(primals, cotangent, output):
    pred, target = primals
    r = pred - target
    g = mx.clip(r, -DELTA, DELTA) * (cotangent / r.size)
    return g, -g


# audit the hand-written backward against autodiff once
def huber_ref(p, t):
    r = p - t
    a = mx.abs(r)
    return mx.mean(mx.where(a <= DELTA, 0.5 * r * r, DELTA * (a - 0.5 * DELTA)))


_p = mx.random.normal((64, 2), key=mx.random.key(3))
_t = mx.random.normal((64, 2), key=mx.random.key(4))
g_custom = mx.grad(huber)(_p, _t)
g_auto = mx.grad(huber_ref)(_p, _t)
print(json.dumps({"event": "vjp_audit",
                  "max_abs_diff": float(mx.max(mx.abs(g_custom - g_auto)).item()),
                  "grad_norm": round(float(mx.linalg.norm(g_auto).item()), 6)}))


class SnowGun(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 2)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.head(h)


group = mx.distributed.init()
world = group.size()
mx.random.seed(7 + group.rank())
model = SnowGun()
mx.eval(model.parameters())

STEPS_PER_CYCLE = 300
CYCLES = 3
WARM = 60
BATCH = 128
# lr starts at exactly 0, warms up, then cosine cycles that restart at the top
opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, x, y):
    return huber(m(x), y)


vg = nn.value_and_grad(model, loss_fn)


def val_metrics():
    p = model(Xva)
    err = (p - Yva) * YSD
    rmse = mx.sqrt(mx.mean(err * err, axis=0))
    return float(huber(p, Yva).item()), float(rmse[0].item()), float(rmse[1].item())


# baseline: predict the training mean
base_rmse = np.sqrt(((yva - ymu) ** 2).mean(0))
_, r0s, r0c = val_metrics()
print(json.dumps({"event": "start", "world": world, "n_train": N_TRAIN,
                  "val_rmse_snow_m3h": round(r0s, 3), "val_rmse_conv_pct": round(r0c, 2),
                  "mean_baseline": [round(float(base_rmse[0]), 3), round(float(base_rmse[1]), 2)]}))

t0 = time.time()
step = 0
perm = np.arange(N_TRAIN)
for cycle in range(CYCLES):
    for k in range(STEPS_PER_CYCLE):
        if step % (N_TRAIN // BATCH) == 0:
            rng.shuffle(perm)
        j = step % (N_TRAIN // BATCH)
        idx = mx.array(perm[j * BATCH:(j + 1) * BATCH])
        if step < WARM:
            lr = 3e-3 * step / WARM
        else:
            pos = k if cycle > 0 else k - WARM
            span = STEPS_PER_CYCLE if cycle > 0 else STEPS_PER_CYCLE - WARM
            lr = 3e-5 + 0.5 * (3e-3 - 3e-5) * (1 + math.cos(math.pi * pos / span))
        opt.learning_rate = lr
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or k == STEPS_PER_CYCLE - 1:
            vh, rs, rc = val_metrics()
            print(json.dumps({"step": step, "cycle": cycle, "lr": round(lr, 6),
                              "huber": round(float(loss.item()), 4), "val_huber": round(vh, 4),
                              "rmse_snow": round(rs, 3), "rmse_conv": round(rc, 2)}))
        step += 1

vh, rs, rc = val_metrics()
print(json.dumps({"event": "done", "steps": step, "seconds": round(time.time() - t0, 2),
                  "val_rmse_snow_m3h": round(rs, 3), "val_rmse_conv_pct": round(rc, 2),
                  "mean_baseline": [round(float(base_rmse[0]), 3), round(float(base_rmse[1]), 2)],
                  "noise_floor": [0.6, 3.0]}))
