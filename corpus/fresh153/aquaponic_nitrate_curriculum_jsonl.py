"""Aquaponics: predict nitrate (mg/L) in a fish tank from husbandry readings.

Curriculum: stage 1 trains on light-stocked tanks only, stage 2 adds the
heavily stocked tanks (harder, more nonlinear), with a warm restart of the
cosine learning-rate schedule. One JSON object per log line.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N = 720
biomass = mx.random.uniform(2.0, 40.0, (N,))          # kg fish per m^3
feed = biomass * mx.random.uniform(8.0, 14.0, (N,))    # g feed per day
temp = mx.random.uniform(18.0, 30.0, (N,))             # deg C
plants = mx.random.uniform(10.0, 120.0, (N,))          # plant sites
ph = mx.random.uniform(6.2, 7.8, (N,))
age = mx.random.uniform(5.0, 180.0, (N,))              # days since cycling

nitrate = (
    0.9 * feed / (1.0 + 0.012 * plants)
    * (1.0 / (1.0 + mx.exp(-(age - 30.0) / 12.0)))
    * (1.0 + 0.03 * (temp - 24.0))
    * (1.0 - 0.25 * mx.abs(ph - 7.0))
    + 0.004 * mx.maximum(biomass - 22.0, 0.0) ** 3
)
nitrate = nitrate + mx.random.normal((N,)) * 3.0      # mg/L

X_raw = mx.stack([biomass, feed, temp, plants, ph, age], axis=1)
mu, sd = X_raw.mean(axis=0), X_raw.std(axis=0)
X = (X_raw - mu) / sd
y_mu, y_sd = nitrate.mean(), nitrate.std()
Y = ((nitrate - y_mu) / y_sd)[:, None]

perm = mx.random.permutation(N)
tr_idx, va_idx = perm[:600], perm[600:]
Xtr, Ytr, Xva, Yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
light = mx.array([i for i, b in enumerate(biomass[tr_idx].tolist()) if b < 20.0])

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss

def val_mae_mgl():
    pred = model(Xva) * y_sd + y_mu
    return mx.abs(pred - (Yva * y_sd + y_mu)).mean().item()

baseline = mx.abs((Ytr.mean() - Yva) * y_sd).mean().item()

STAGES = [("light_tanks", light, 300, 3e-3), ("all_tanks", mx.arange(600), 500, 2e-3)]
BATCH = 48
t0 = time.time()
for s, (sname, pool, steps, peak) in enumerate(STAGES, start=1):
    npool = pool.shape[0]
    for it in range(steps):
        lr = 1e-4 + 0.5 * (peak - 1e-4) * (1 + math.cos(math.pi * it / steps))
        opt.learning_rate = lr
        pick = pool[mx.random.randint(0, npool, (BATCH,))]
        loss = train_step(Xtr[pick], Ytr[pick])
        mx.eval(loss, state)
        if it % 50 == 0 or it == steps - 1:
            full = loss_fn(model, Xtr, Ytr).item()
            print(json.dumps({
                "stage": s, "pool": sname, "it": it, "lr": round(lr, 6),
                "mse_batch_z": round(loss.item(), 4), "mse_alltrain_z": round(full, 4),
                "val_mae_mgL": round(val_mae_mgl(), 2), "mean_guess_mae_mgL": round(baseline, 2),
            }))

print(json.dumps({"summary": True, "val_mae_mgL": round(val_mae_mgl(), 2),
                  "mean_guess_mae_mgL": round(baseline, 2), "secs": round(time.time() - t0, 1)}))
