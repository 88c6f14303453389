"""Raku studio notebook: how much crackle (cracks per cm^2) will a glaze show?

Six firing-log readings -> crackle density.  Lion optimizer, three warm-restart
cycles; each cycle ramps the learning rate up from exactly 0, then cosine-decays it.
One JSON object per log line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(135)


def make_firings(n):
    peak_c = rng.uniform(880, 1020, n)          # kiln peak temperature, C
    pull_c = peak_c - rng.uniform(0, 90, n)     # temperature when the pot is pulled
    reduction_s = rng.uniform(20, 240, n)       # seconds in the sawdust can
    glaze_mm = rng.uniform(0.3, 1.6, n)         # glaze thickness
    cool_rate = rng.uniform(2, 30, n)           # C per second right after pull
    porosity = rng.uniform(0.05, 0.35, n)       # clay body porosity fraction
    c = (cool_rate - 16) / 8
    g = (glaze_mm - 0.95) / 0.4
    p = (porosity - 0.2) / 0.09
    crackle = (3.0 + 1.6 * np.tanh(c) + 0.9 * g * np.tanh(c + 0.5) - 0.7 * p ** 2
               + 0.4 * np.sin((peak_c - 950) / 25) + 0.002 * (reduction_s - 130)
               - 0.006 * (peak_c - pull_c) / 10 + rng.normal(0, 0.25, n))
    x = np.stack([peak_c, pull_c, reduction_s, glaze_mm, cool_rate, porosity], 1)
    return x.astype(np.float32), crackle.astype(np.float32)


xtr, ytr = make_firings(3000)
xva, yva = make_firings(800)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
ref_mae = float(np.abs(yva - ytr.mean()).mean())   # "always predict the shop average"

mx.random.seed(135)
model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_mae():
    return mx.abs(model(Xva).squeeze(-1) - Yva).mean().item()


cycles = [(220, 3e-3), (200, 1.5e-3), (180, 6e-4)]   # (steps, peak lr)
ramp = 25
batch = 96
t0 = time.time()
print(json.dumps({"event": "start", "n_train": len(ytr), "n_val": len(yva),
                  "ref_mae": round(ref_mae, 4), "val_mae": round(val_mae(), 4)}))
for ci, (steps, peak) in enumerate(cycles, start=1):
    for it in range(steps):
        if it < ramp:
            lr = peak * it / ramp           # it == 0 -> exactly 0.0
        else:
            u = (it - ramp) / (steps - ramp)
            lr = 0.5 * peak * (1 + math.cos(math.pi * u))
        opt.learning_rate = mx.array(lr, dtype=mx.float32)
        idx = mx.array(rng.integers(0, len(ytr), batch))
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        if it % 20 == 0 or it == steps - 1:
            print(json.dumps({"cycle": ci, "it": it, "lr": float(f"{lr:.3g}"),
                              "train_mse": round(loss.item(), 4),
                              "val_mae": round(val_mae(), 4),
                              "ref_mae": round(ref_mae, 4)}))
    print(json.dumps({"event": "cycle_end", "cycle": ci, "val_mae": round(val_mae(), 4),
                      "skill_pct": round(100 * (1 - val_mae() / ref_mae), 1)}))
print(json.dumps({"event": "done", "val_mae": round(val_mae(), 4), "ref_mae": round(ref_mae, 4),
                  "seconds": round(time.time() - t0, 2)}))
