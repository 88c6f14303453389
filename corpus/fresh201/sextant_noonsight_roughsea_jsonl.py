"""Noon-sight latitude error from a sextant log.

Each row is one synthetic noon sight: observed sun altitude, index error,
height of eye, air temperature, pressure and sun declination.  The target is
the error (arc-minutes) of the navigator's uncorrected latitude against GPS.
Two sea states are trained in turn: a calm-sea stage, then a rough-sea stage
with bigger heights of eye and more sextant noise (so the error first jumps).
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(20260)


def make_sights(n, rough):
    alt = rng.uniform(20.0, 80.0, n)                      # deg
    ie = rng.normal(0.0, 1.5, n)                          # arc-min index error
    hoe = rng.uniform(2.0, 6.0 if not rough else 18.0, n)  # height of eye, m
    temp = rng.uniform(-5.0, 35.0, n)                     # deg C
    pres = rng.uniform(990.0, 1035.0, n)                  # hPa
    dec = rng.uniform(-23.4, 23.4, n)                     # deg
    dip = 1.76 * np.sqrt(hoe)
    refr = (1.0 / np.tan(np.radians(alt + 7.31 / (alt + 4.4)))) * (pres / 1010.0) * (283.0 / (273.0 + temp))
    semi = 16.0 + 0.2 * np.sin(np.radians(dec) * 3.0)
    err = ie + dip + refr - semi + 0.02 * dec
    noise_sd = 0.25 if not rough else 0.9
    err = err + rng.normal(0.0, noise_sd, n) + (0.04 * hoe * np.sin(np.radians(alt)) if rough else 0.0)
    X = np.stack([alt / 50.0 - 1.0, ie / 1.5, hoe / 6.0 - 1.0, temp / 20.0 - 0.75,
                  (pres - 1012.0) / 12.0, dec / 23.4], axis=1).astype(np.float32)
    return X, err.astype(np.float32)[:, None]


class SightNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


model = SightNet()
mx.eval(model.parameters())

steps_per_stage = 600
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, 2 * steps_per_stage - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

# parameter coverage check before training
xb0, yb0 = make_sights(64, False)
_, g0 = vg(model, mx.array(xb0), mx.array(yb0))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "params": len(tree_flatten(g0)), "zero_grad": dead}))

t0 = time.time()
for stage, rough in (("calm", False), ("rough", True)):
    Xtr, Ytr = make_sights(6000, rough)
    Xva, Yva = make_sights(1500, rough)
    xva, yva = mx.array(Xva), mx.array(Yva)
    base_mae = float(np.abs(Yva - Ytr.mean()).mean())
    for step in range(1, steps_per_stage + 1):
        idx = rng.integers(0, len(Xtr), 128)
        loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 100 == 0:
            mae = float(mx.abs(model(xva) - yva).mean())
            print(json.dumps({"stage": stage, "step": step, "lr": round(float(opt.learning_rate), 6),
                              "huber": round(float(loss), 4), "val_mae_arcmin": round(mae, 3),
                              "baseline_mae_arcmin": round(base_mae, 3)}))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}))
