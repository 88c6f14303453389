"""Trekking agency: how long (hours) a porter needs to carry a load between two camps.

Synthetic porter logbook. Stage 1 trains on valley legs only (start below 4000 m),
stage 2 adds the high-camp legs where thin air makes everything slower. Each stage
gets a fresh Adamax with its own warmup that starts at lr = 0.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1953)
FEATS = ["load_kg", "gain_m", "start_alt_m", "years", "acclim_days", "snow_cm", "temp_c"]


def porter_log(n, alt_lo, alt_hi):
    load = rng.uniform(15, 40, n)
    gain = rng.uniform(200, 1200, n)
    alt = rng.uniform(alt_lo, alt_hi, n)
    years = rng.uniform(0, 25, n)
    acclim = rng.integers(0, 15, n).astype(np.float64)
    snow = np.clip(rng.normal(10 + (alt - 3000) / 80, 10, n), 0, 80)
    temp = 18 - (alt - 2800) / 160 + rng.normal(0, 3, n)
    thin_air = np.exp((alt - 3000) / 1400) * (1.0 - 0.6 * (1 - np.exp(-acclim / 5)))
    hours = (1.2 + gain / 420 * (1 + load / 45) * thin_air
             + 0.02 * snow * (1 + load / 60)
             - 0.9 * np.log1p(years) / np.log(26)
             + 0.015 * np.maximum(0, -temp))
    hours = hours + rng.normal(0, 0.15, n)
    X = np.stack([load, gain, alt, years, acclim, snow, temp], 1)
    return X.astype(np.float32), hours.astype(np.float32)


Xv, yv = porter_log(2400, 2800, 4000)
Xh, yh = porter_log(2400, 4000, 5400)
Xv_te, yv_te = porter_log(400, 2800, 4000)
Xh_te, yh_te = porter_log(400, 4000, 5400)

# one scaler from the whole logbook, so stage 2 is the same input space
allX = np.concatenate([Xv, Xh])
mu, sd = allX.mean(0), allX.std(0)
ymu, ysd = float(np.concatenate([yv, yh]).mean()), float(np.concatenate([yv, yh]).std())


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


class CarryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = CarryNet()
mx.eval(model.parameters())

# sanity: every weight sees a gradient
xs, ys = prep(Xv[:64], yv[:64])
_, g0 = nn.value_and_grad(model, mse)(model, xs, ys)
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

stages = [
    ("valley", (Xv, yv), 360),
    ("valley+high", (np.concatenate([Xv, Xh]), np.concatenate([yv, yh])), 480),
]
tests = {"valley": prep(Xv_te, yv_te), "high": prep(Xh_te, yh_te)}
t0 = time.time()
gstep = 0
summary = []
for sname, (Xs, ys_np), steps in stages:
    Xtr, ytr = prep(Xs, ys_np)
    n = Xtr.shape[0]
    warm = optim.linear_schedule(0.0, 4e-3, 60)
    decay = optim.cosine_decay(4e-3, steps - 60, 2e-4)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [60]))
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, g)
        return loss

    base_mae = {k: float(mx.mean(mx.abs(float(ytr.mean()) - v[1]))) * ysd * 60 for k, v in tests.items()}
    for s in range(steps):
        idx = mx.array(rng.integers(0, n, 128))
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        gstep += 1
        if s % 40 == 0 or s == steps - 1:
            rec = {"stage": sname, "step": s, "gstep": gstep, "lr": round(float(opt.learning_rate), 6),
                   "mse_z": round(float(loss), 4)}
            for k, (xt, yt) in tests.items():
                rec[f"mae_{k}_min"] = round(float(mx.mean(mx.abs(model(xt) - yt))) * ysd * 60, 1)
                rec[f"ref_{k}_min"] = round(base_mae[k], 1)
            print(json.dumps(rec))
    summary.append((sname, {k: float(mx.mean(mx.abs(model(v[0]) - v[1]))) * ysd * 60 for k, v in tests.items()}, base_mae))

print()
print(f"{'stage':<12}{'valley MAE':>12}{'(mean ref)':>12}{'high MAE':>10}{'(mean ref)':>12}   minutes")
for sname, m, b in summary:
    print(f"{sname:<12}{m['valley']:>12.1f}{b['valley']:>12.1f}{m['high']:>10.1f}{b['high']:>12.1f}")
print(f"done in {time.time() - t0:.1f}s, {gstep} updates")
