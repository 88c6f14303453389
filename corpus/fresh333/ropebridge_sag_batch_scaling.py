"""Rope footbridge inspections: mid-span sag (cm) from seven readings.

One program, four runs: batch size 16, 64, 256 and 1024 under the linear
learning-rate scaling rule (lr = 0.01 * B / 32) with a gradual warm-up that
starts at exactly 0, and the SAME budget of examples for every run, so the big
batches take far fewer optimizer steps.  Progress is reported every eighth of
the example budget.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)


def inspections(n):
    span = rng.uniform(12, 60, n)              # m
    planks = rng.integers(20, 120, n)          # count
    rope_d = rng.uniform(16, 40, n)            # mm
    tension = rng.uniform(5, 40, n)            # kN
    humidity = rng.uniform(20, 100, n)         # %
    walkers = rng.poisson(3, n)
    age = rng.uniform(0, 25, n)                # years
    w = 0.09 * planks + 0.75 * walkers + 0.002 * rope_d ** 2   # kN-ish load
    creep = 1 + 0.012 * age + 0.002 * (humidity - 50)
    sag = 100 * w * span ** 2 / (8 * tension * span * 4.0) * creep
    sag = sag + rng.normal(0, 1.5, n)
    X = np.stack([span, planks, rope_d, np.log(tension), humidity, walkers, age], 1)
    return X.astype(np.float32), sag.astype(np.float32)


X, y = inspections(9000)
Xtr, ytr, Xte, yte = X[:8000], y[:8000], X[8000:], y[8000:]
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr = mx.array((Xtr - mu) / sd)
ttr = mx.array((ytr - ymu) / ysd)
xte = mx.array((Xte - mu) / sd)


class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.GELU(),
                                  nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)


BUDGET = 8000 * 6          # examples seen by every run
BASE_LR, BASE_B = 0.01, 32
base_rmse = float(np.sqrt(np.mean((ytr.mean() - yte) ** 2)))
print(f"mean-predictor test RMSE: {base_rmse:.2f} cm")

t0 = time.time()
summary = []
for B in (16, 64, 256, 1024):
    mx.random.seed(5)
    model = SagNet()
    mx.eval(model.parameters())
    steps = BUDGET // B
    lr = BASE_LR * B / BASE_B
    warm = max(1, steps // 20)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr, warm),
         optim.cosine_decay(lr, steps - warm, 0.0)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    grad_fn = nn.value_and_grad(model, loss_fn)
    print(f"--- batch {B}: {steps} steps, peak lr {lr:.4f}, warm-up {warm} steps from 0")
    order_rng = np.random.default_rng(B)
    perm = order_rng.permutation(8000)
    pos = 0
    seen = 0
    next_report = BUDGET // 8
    running, cnt = 0.0, 0
    for s in range(steps):
        if pos + B > 8000:
            perm = order_rng.permutation(8000)
            pos = 0
        idx = mx.array(perm[pos:pos + B])
        pos += B
        loss, grads = grad_fn(model, xtr[idx], ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        cnt += 1
        seen += B
        if seen >= next_report or s == steps - 1:
            lr_now = opt.learning_rate.item()
            print(f"B={B:5d} examples {seen:6d} step {s + 1:5d}  "
                  f"train_mse(avg) {running / cnt:.4f}  lr {lr_now:.5f}")
            running, cnt = 0.0, 0
            next_report += BUDGET // 8
    model.eval()
    pred = np.array(model(xte)) * ysd + ymu
    rmse = float(np.sqrt(np.mean((pred - yte) ** 2)))
    summary.append((B, steps, rmse))
    print(f"batch {B}: test RMSE {rmse:.2f} cm (mean predictor {base_rmse:.2f})")

print("batch  steps  test_rmse_cm")
for B, steps, rmse in summary:
    print(f"{B:5d}  {steps:5d}  {rmse:.2f}")
print(f"elapsed {time.time() - t0:.1f}s")
