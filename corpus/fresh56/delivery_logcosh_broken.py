"""Courier delivery-time regression (minutes) with a robust log-cosh loss.

Route features: distance (km), number of stops, hour of day (sin/cos), rain flag,
driver experience (years).  ~8% of the logged trips are corrupted by GPS dropouts
(huge durations), so we use log-cosh instead of MSE.

Loss per the docs:  logcosh(y_true, y_pred) = (1/n) sum log(cosh(y_pred - y_true))
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)


def make_trips(n):
    dist = rng.gamma(2.0, 3.0, n)
    stops = rng.integers(1, 9, n)
    hour = rng.uniform(7, 22, n)
    rain = (rng.random(n) < 0.25).astype(np.float64)
    exp_years = rng.uniform(0, 10, n)
    rush = np.exp(-((hour - 8.5) ** 2) / 2.0) + np.exp(-((hour - 17.5) ** 2) / 2.0)
    minutes = (6 + 3.1 * dist + 4.0 * stops + 9.0 * rush + 7.0 * rain
               - 0.6 * exp_years + rng.normal(0, 2.0, n))
    x = np.stack([dist / 10, stops / 8, np.sin(2 * math.pi * hour / 24),
                  np.cos(2 * math.pi * hour / 24), rain, exp_years / 10], 1)
    return x.astype(np.float32), minutes.astype(np.float32)


x_tr, y_tr = make_trips(3000)
bad = rng.random(len(y_tr)) < 0.08
y_tr_obs = y_tr.copy()
y_tr_obs[bad] += rng.uniform(60, 240, bad.sum())  # GPS dropouts
x_va, y_va = make_trips(600)

Y_SCALE = 30.0
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr_obs[:, None] / Y_SCALE)
X_va = mx.array(x_va)


class EtaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 128), nn.SiLU(),
                                  nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 1))

    def __call__(self, x):
        return self.body(x)


model = EtaNet()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return nn.losses.log_cosh_loss(m(xb), yb)


opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, loss_fn)

BATCH = 128
EPOCHS = 60
baseline = float(np.mean(np.abs(y_va - np.median(y_tr_obs))))
print(f"{'epoch':>5} | {'train logcosh':>13} | {'val MAE (min)':>13} | {'secs':>5}")
print("-" * 48)
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(y_tr_obs))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - BATCH + 1, BATCH):
        idx = mx.array(perm[i:i + BATCH])
        loss, grads = step(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if epoch == 1 or epoch % 10 == 0:
        pred = np.array(model(X_va))[:, 0] * Y_SCALE
        mae = float(np.mean(np.abs(pred - y_va)))
        print(f"{epoch:>5} | {tot / nb:>13.5f} | {mae:>13.2f} | {time.time() - t0:>5.1f}")
print("-" * 48)
print(f"median-guess baseline MAE: {baseline:.2f} min")
