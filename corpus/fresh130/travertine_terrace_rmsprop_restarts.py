"""Travertine terrace growth at a hot spring.

Regress the yearly deposition rate (mm/yr) at a terrace lip from six
field readings.  Readings are synthetic (made up here, no real site data).
Schedule: three warm-restart cycles, each starting from a learning rate of
exactly 0, linear warm-up, then cosine decay.  One JSON object per log line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make_site(n):
    temp = rng.uniform(30.0, 72.0, n)          # outflow temperature, C
    co2 = rng.uniform(0.2, 3.5, n)             # dissolved CO2, mmol/L
    ca = rng.uniform(2.0, 12.0, n)             # calcium, mmol/L
    flow = rng.lognormal(0.0, 0.6, n)          # flow, L/s
    slope = rng.uniform(2.0, 40.0, n)          # lip slope, degrees
    algae = rng.uniform(0.0, 1.0, n)           # algal mat cover, fraction
    # degassing drives supersaturation; warm, fast, steep lips deposit most
    sat = ca * np.tanh(co2 / 1.5) * (1.0 + 0.015 * (temp - 50.0))
    rate = (
        1.8 * sat
        + 6.0 * np.sqrt(flow) * np.sin(np.radians(slope)) * 3.0
        - 4.0 * algae * (temp < 45.0)
        + 0.8 * np.log1p(flow) * ca / 6.0
    )
    rate = rate + rng.normal(0.0, 1.2, n)
    x = np.stack([temp, co2, ca, np.log(flow), slope, algae], axis=1)
    return x.astype(np.float32), rate.astype(np.float32)


x_tr, y_tr = make_site(3000)
x_va, y_va = make_site(600)
mu, sd = x_tr.mean(0), x_tr.std(0)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
X_tr = mx.array((x_tr - mu) / sd)
Y_tr = mx.array((y_tr - y_mu) / y_sd)
X_va = mx.array((x_va - mu) / sd)
Y_va_mm = mx.array(y_va)

# baseline: always predict the training mean rate
baseline_rmse = float(np.sqrt(np.mean((y_va - y_mu) ** 2)))


class LipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
net = LipNet()
opt = optim.RMSprop(learning_rate=0.0, alpha=0.95)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(net, loss_fn)

CYCLES = [(0, 180, 4e-3), (1, 240, 2e-3), (2, 320, 1e-3)]
WARM = 30
BATCH = 96
n = X_tr.shape[0]
t0 = time.time()
checked = False
step_global = 0

for cyc, steps, peak in CYCLES:
    for s in range(steps):
        if s < WARM:
            lr = peak * s / WARM              # exactly 0 on the first step of a cycle
        else:
            frac = (s - WARM) / (steps - WARM)
            lr = 0.5 * peak * (1.0 + math.cos(math.pi * frac))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = grad_fn(net, X_tr[idx], Y_tr[idx])
        if not checked:
            flat = [(k, float(mx.abs(v).sum())) for k, v in tree_flatten(grads)]
            zero = [k for k, g in flat if g == 0.0]
            print(json.dumps({"event": "grad_check", "tensors": len(flat), "zero_grad": zero}))
            checked = True
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        step_global += 1
        if s % 40 == 0 or s == steps - 1:
            pred = net(X_va) * y_sd + y_mu
            rmse = float(mx.sqrt(mx.mean((pred - Y_va_mm) ** 2)))
            print(json.dumps({
                "cycle": cyc,
                "step": s,
                "lr": round(lr, 6),
                "huber": round(float(loss), 4),
                "val_rmse_mm_yr": round(rmse, 3),
                "mean_baseline_mm_yr": round(baseline_rmse, 3),
            }))
    if cyc == CYCLES[-1][0]:
        break
    # perturb at restart: shrink the output layer so the next cycle re-fits it
    net.out.weight = net.out.weight * 0.3
    net.out.bias = net.out.bias * 0.0
    mx.eval(net.parameters())

pred = net(X_va) * y_sd + y_mu
rmse = float(mx.sqrt(mx.mean((pred - Y_va_mm) ** 2)))
r2 = 1.0 - rmse ** 2 / baseline_rmse ** 2
print(json.dumps({"event": "final", "val_rmse_mm_yr": round(rmse, 3),
                  "r2": round(r2, 3), "steps": step_global,
                  "seconds": round(time.time() - t0, 2)}))
