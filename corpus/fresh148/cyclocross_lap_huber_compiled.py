"""Cyclocross lap-time model: dry-course warm-up stage, then the full (muddy) calendar.

Pseudo-Huber loss with a hand-written backward pass, a compiled Lion step,
and a cosine learning rate that restarts when the mud stage begins.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(148)
DELTA = 0.5  # pseudo-Huber knee, in standardised target units


def make_laps(n):
    length = rng.uniform(2.5, 3.5, n)          # km
    mud = rng.beta(1.2, 1.8, n)                 # fraction of lap in mud
    sand = rng.uniform(0.0, 0.3, n)             # fraction in sand
    barriers = rng.integers(0, 5, n).astype(float)
    ftp = rng.uniform(3.5, 6.0, n)              # W/kg
    psi = rng.uniform(18.0, 30.0, n)            # tyre pressure
    temp = rng.uniform(-2.0, 15.0, n)           # deg C
    best_psi = 27.0 - 8.0 * mud                 # muddy laps want soft tyres
    speed = 18.0 + 2.5 * (ftp - 4.5) - 4.0 * mud - 6.0 * sand * (1.0 + mud) \
        - 0.03 * (psi - best_psi) ** 2 + 0.05 * temp
    speed = np.maximum(speed, 6.0)
    secs = 3600.0 * length / speed + 3.5 * barriers * (1.0 + 0.6 * mud)
    secs = secs + rng.normal(0.0, 6.0, n)
    X = np.stack([length, mud, sand, barriers, ftp, psi, temp], 1)
    return X.astype(np.float32), secs.astype(np.float32), mud


Xtr, ytr, mud_tr = make_laps(4000)
Xva, yva, _ = make_laps(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
ytr_s, yva_s = (ytr - ymu) / ysd, (yva - ymu) / ysd
baseline_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


@mx.custom_function
def pseudo_huber(r):
    return DELTA * DELTA * (mx.sqrt(1.0 + mx.square(r / DELTA)) - 1.0)


@pseudo_huber.vjp
def pseudo_huber_vjp(primals, cotangent, output):
    r = primals
    return (cotangent * r / mx.sqrt(1.0 + mx.square(r / DELTA)),)


def reference_huber(r):
    return DELTA * DELTA * (mx.sqrt(1.0 + mx.square(r / DELTA)) - 1.0)


class LapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return pseudo_huber(model(x) - y).mean()


mx.random.seed(148)
model = LapNet()
opt = optim.Lion(learning_rate=1e-4, weight_decay=1e-3)
opt.init(model.trainable_parameters())

# audit: hand-written backward vs autodiff of the same formula, and every weight gets a gradient
r_probe = mx.array(rng.normal(0, 2.0, 257).astype(np.float32))
g_custom = mx.grad(lambda r: pseudo_huber(r).sum())(r_probe)
g_ref = mx.grad(lambda r: reference_huber(r).sum())(r_probe)
xb0, yb0 = mx.array(Xtr_s[:128]), mx.array(ytr_s[:128])
_, g0 = nn.value_and_grad(model, loss_fn)(model, xb0, yb0)
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "audit", "vjp_max_abs_diff": float(mx.abs(g_custom - g_ref).max()),
                  "zero_grad_tensors": sum(v == 0.0 for v in norms.values()),
                  "n_tensors": len(norms)}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_rmse_seconds():
    pred = model(mx.array(Xva_s))
    return float(mx.sqrt(mx.mean(mx.square(pred - mx.array(yva_s))))) * ysd


stages = [
    ("dry", np.where(mud_tr < 0.3)[0], 600, 3e-4),
    ("full_calendar", np.arange(len(Xtr)), 900, 2e-4),
]
BATCH = 128
t0 = time.time()
for stage, idx, steps, peak in stages:
    run_sum, run_n = 0.0, 0
    for step in range(1, steps + 1):
        opt.learning_rate = peak * 0.5 * (1.0 + math.cos(math.pi * (step - 1) / steps)) + 1e-6
        pick = rng.choice(idx, BATCH, replace=False)
        loss = train_step(mx.array(Xtr_s[pick]), mx.array(ytr_s[pick]))
        mx.eval(state, loss)
        run_sum += float(loss)
        run_n += 1
        if step % 75 == 0 or step == steps:
            tr_pred = model(mx.array(Xtr_s[idx]))
            tr_rmse = float(mx.sqrt(mx.mean(mx.square(tr_pred - mx.array(ytr_s[idx]))))) * ysd
            print(json.dumps({"stage": stage, "step": step, "lr": round(float(opt.learning_rate), 7),
                              "huber": round(run_sum / run_n, 4), "train_rmse_s": round(tr_rmse, 2),
                              "val_rmse_s": round(val_rmse_seconds(), 2),
                              "mean_lap_rmse_s": round(baseline_rmse, 2)}))
            run_sum, run_n = 0.0, 0

print(json.dumps({"event": "done", "val_rmse_s": round(val_rmse_seconds(), 2),
                  "mean_lap_rmse_s": round(baseline_rmse, 2), "noise_floor_s": 6.0,
                  "wall_s": round(time.time() - t0, 1)}))
