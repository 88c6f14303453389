# Multi-output regression on a sensor log where many target readings are
# missing (stored as NaN). Missing targets are masked out of the loss.
import json

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(4)
N, F, T = 4000, 10, 4
X = rng.normal(size=(N, F)).astype(np.float32)
W = rng.normal(size=(F, T)).astype(np.float32) * 0.5
Y = (np.sin(X @ W) + 0.05 * rng.normal(size=(N, T))).astype(np.float32)
missing = rng.random(size=Y.shape) < 0.35  # 35% of readings were never recorded
Y[missing] = np.nan
print(json.dumps({"rows": N, "targets": T, "missing_frac": round(float(missing.mean()), 3)}))

Xtr, Ytr = mx.array(X[:3500]), mx.array(Y[:3500])
Xva, Yva = mx.array(X[3500:]), mx.array(Y[3500:])

model = nn.Sequential(nn.Linear(F, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, T))
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)


def masked_mse(pred, y):
    valid = ~mx.isnan(y)
    y0 = mx.where(valid, y, 0.0)
    err = mx.where(valid, (pred - y0) ** 2, 0.0)
    return err.sum() / mx.maximum(valid.sum(), 1)


def loss_fn(model, x, y):
    return masked_mse(model(x), y)


vg = nn.value_and_grad(model, loss_fn)
BS = 100
for epoch in range(1, 16):
    perm = mx.random.permutation(Xtr.shape[0])
    tot = 0.0
    nb = 0
    for i in range(0, Xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    val = masked_mse(model(Xva), Yva).item()
    print(json.dumps({"epoch": epoch, "masked_mse": round(tot / nb, 5), "val_masked_mse": round(val, 5)}))
