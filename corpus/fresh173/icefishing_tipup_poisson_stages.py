"""Ice-fishing tip-up flags: Poisson regression of flags per hour from hole conditions.

Two-stage curriculum: first only the shallow bay holes (easy, one regime), then
all holes of the lake including the deep drop-off holes (harder, loss jumps up
when the stage starts). Each stage gets a fresh Adamax whose learning rate warms
up linearly from exactly 0, then follows a cosine decay.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1717)
mx.random.seed(1717)


def make_holes(n):
    depth = rng.uniform(1.5, 18.0, n)                 # metres
    ice = rng.uniform(15.0, 60.0, n)                  # cm
    hour = rng.uniform(5.0, 19.0, n)
    water_c = rng.normal(2.5, 0.6, n)
    press_trend = rng.normal(0.0, 1.5, n)             # hPa / 3h
    dropoff_m = rng.exponential(40.0, n)
    bait = rng.integers(0, 3, n)                      # minnow / waxworm / spoon
    # made-up lake law for the bite rate (flags per hour)
    dawn = np.exp(-((hour - 7.5) ** 2) / 4.0) + 0.7 * np.exp(-((hour - 17.0) ** 2) / 3.0)
    deep = depth > 8.0
    log_rate = (-1.2 + 1.1 * dawn - 0.015 * (ice - 35.0) - 0.25 * press_trend
                + np.where(bait == 0, 0.45, np.where(bait == 1, 0.1, -0.2))
                + np.where(deep, 0.9 - 0.03 * dropoff_m + 0.08 * (depth - 8.0), 0.02 * depth))
    flags = rng.poisson(np.exp(log_rate))
    feats = np.stack([
        (depth - 9.0) / 5.0, (ice - 35.0) / 13.0,
        np.sin(2 * math.pi * hour / 24.0), np.cos(2 * math.pi * hour / 24.0),
        (water_c - 2.5) / 0.6, press_trend / 1.5, (dropoff_m - 40.0) / 40.0,
        bait == 0, bait == 1, bait == 2,
    ], axis=1).astype(np.float32)
    return feats, flags.astype(np.float32), deep


X_all, y_all, deep_all = make_holes(4000)
X_test, y_test, _ = make_holes(1000)
shallow_idx = np.where(~deep_all)[0]
all_idx = np.arange(len(y_all))


class BiteRate(nn.Module):
    def __init__(self, d_in=10, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)  # log flags per hour


def poisson_nll(log_rate, y):
    return mx.mean(mx.exp(log_rate) - y * log_rate)


def deviance(mu, y):
    # mean Poisson deviance, lower is better
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    term = np.where(y > 0, y * np.log(np.maximum(y, 1e-12) / mu), 0.0)
    return float(np.mean(2.0 * (term - (y - mu))))


def loss_fn(model, x, y):
    return poisson_nll(model(x), y)


model = BiteRate()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off audit that every weight actually receives gradient
_, g0 = loss_and_grad(model, mx.array(X_all[:256]), mx.array(y_all[:256]))
gn = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in tree_flatten(g0)}
assert all(v > 0 for v in gn.values()), gn
print(json.dumps({"event": "grad_audit", "n_tensors": len(gn),
                  "min_norm": round(min(gn.values()), 5), "max_norm": round(max(gn.values()), 5)}))

stages = [("shallow_bay", shallow_idx, 400), ("whole_lake", all_idx, 700)]
batch = 128
for stage_name, idx, n_steps in stages:
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, n_steps - warm, 2e-4)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    y_stage = y_all[idx]
    null_mu = np.full_like(y_stage, y_stage.mean())
    null_dev = deviance(null_mu, y_stage)
    for it in range(n_steps):
        b = rng.choice(idx, size=batch, replace=False)
        xb, yb = mx.array(X_all[b]), mx.array(y_all[b])
        lr_now = float(sched(it))
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0 or it == n_steps - 1:
            mu = np.array(mx.exp(model(mx.array(X_all[idx]))))
            rec = {"stage": stage_name, "it": it, "lr": round(float(lr_now), 6),
                   "nll": round(loss.item(), 4),
                   "dev": round(deviance(mu, y_stage), 4), "null_dev": round(null_dev, 4),
                   "flags_per_hr_pred": round(float(mu.mean()), 3),
                   "flags_per_hr_obs": round(float(y_stage.mean()), 3)}
            print(json.dumps(rec))

mu_test = np.array(mx.exp(model(mx.array(X_test))))
test_dev = deviance(mu_test, y_test)
test_null = deviance(np.full_like(y_test, y_all.mean()), y_test)
print(json.dumps({"event": "summary", "test_dev": round(test_dev, 4), "test_null_dev": round(test_null, 4),
                  "deviance_explained_pct": round(100.0 * (1.0 - test_dev / test_null), 1)}))
