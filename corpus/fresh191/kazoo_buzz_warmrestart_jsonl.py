"""Kazoo buzz offset regression.

Predict how far (in cents) the buzz of a kazoo sits from the hummed note, from
six bench readings. Trained in three stages: first only on thin-membrane
practice kazoos, then on the full workshop set (harder, the loss jumps up),
then a low-lr polish. Every stage warms the learning rate up from exactly 0.
Progress goes out as JSON lines.
"""
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)
mx.random.seed(2024)


def bench_readings(n, thin_only=False):
    tension = rng.uniform(0.2, 1.0, n)            # membrane tension (rel.)
    thick = rng.uniform(8, 12, n) if thin_only else rng.uniform(8, 40, n)  # microns
    hum_hz = rng.uniform(110, 440, n)
    breath = rng.uniform(0.5, 3.0, n)             # kPa
    tube_cm = rng.uniform(9, 14, n)
    bore_mm = rng.uniform(18, 26, n)
    cents = (60 * np.sin(3 * tension) - 1.8 * (thick - 10) + 25 * np.log(hum_hz / 220)
             + 14 * breath * tension - 0.04 * (thick - 10) ** 2 * breath
             + 6 * (tube_cm - 11.5) - 3 * (bore_mm - 22))
    cents = cents + rng.normal(0, 3.0, n)
    X = np.stack([tension, thick, hum_hz, breath, tube_cm, bore_mm], axis=1)
    return X.astype(np.float32), cents.astype(np.float32)[:, None]


Xp, yp = bench_readings(1500, thin_only=True)
Xa, ya = bench_readings(3000)
Xv, yv = bench_readings(800)
mu, sd = Xa.mean(0), Xa.std(0)
ymu, ysd = ya.mean(), ya.std()
norm = lambda X: mx.array((X - mu) / sd)
tnorm = lambda y: mx.array((y - ymu) / ysd)
Xp_m, yp_m = norm(Xp), tnorm(yp)
Xa_m, ya_m = norm(Xa), tnorm(ya)
Xv_m, yv_m = norm(Xv), tnorm(yv)

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


# audit: every weight must receive gradient before we start
_, g0 = nn.value_and_grad(model, mse)(model, Xa_m[:256], ya_m[:256])
norms = {k: float(mx.linalg.norm(v).item()) for k, v in __import__("mlx.utils").utils.tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "min": round(min(norms.values()), 6), "n_tensors": len(norms)}))

opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, grads)
    return loss


def val_rmse_cents():
    pred = model(Xv_m)
    err = (pred - yv_m) * ysd
    rmse = mx.sqrt(mx.mean(err ** 2)).item()
    r2 = 1.0 - mx.mean((pred - yv_m) ** 2).item() / mx.var(yv_m).item()
    return rmse, r2


baseline = float(np.sqrt(np.mean((yv - ya.mean()) ** 2)))
STAGES = [("practice", Xp_m, yp_m, 600, 3e-3), ("workshop", Xa_m, ya_m, 1200, 3e-3), ("polish", Xa_m, ya_m, 600, 4e-4)]
BS, WARM = 64, 100
for si, (name, X, Y, steps, peak) in enumerate(STAGES, 1):
    n = X.shape[0]
    for step in range(steps):
        if step < WARM:
            lr = peak * step / WARM
        else:
            lr = 0.5 * peak * (1 + math.cos(math.pi * (step - WARM) / (steps - WARM)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, BS))
        loss = train_step(X[idx], Y[idx])
        mx.eval(state, loss)
        if step % 150 == 0 or step == steps - 1:
            rmse, r2 = val_rmse_cents()
            print(json.dumps({"stage": si, "name": name, "step": step, "lr": round(lr, 6),
                              "batch_mse_z": round(loss.item(), 4), "val_rmse_cents": round(rmse, 2),
                              "mean_baseline_cents": round(baseline, 2), "r2_pct": round(100 * r2, 1)}))

rmse, r2 = val_rmse_cents()
print(json.dumps({"summary": True, "val_rmse_cents": round(rmse, 2), "baseline": round(baseline, 2),
                  "noise_floor_cents": 3.0, "r2_pct": round(100 * r2, 1)}))
