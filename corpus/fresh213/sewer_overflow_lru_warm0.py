"""Combined-sewer wet-well level forecasting with a tiny diagonal linear
recurrent unit (LRU-style state-space layer) written by hand.

Each sample is 32 ten-minute steps of (rain mm, dry-weather diurnal inflow,
pump-on flag, upstream gauge).  The target at every step is the wet-well
level (m) produced by a made-up two-reservoir law.  Training runs in three
"sensor-noise" stages (clean -> noisy gauges -> very noisy gauges) so the
training loss jumps up at each stage change; validation is always clean.
The learning rate warms up from exactly 0.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
T = 32


def make_batch(n):
    t = np.arange(T)
    rain = np.zeros((n, T), np.float32)
    for i in range(n):
        for _ in range(rng.integers(0, 3)):
            s = rng.integers(0, T - 6)
            rain[i, s:s + rng.integers(2, 7)] += rng.gamma(2.0, 1.2)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    diurnal = (0.6 + 0.4 * np.sin(2 * np.pi * t / 144.0 * 6 + phase)).astype(np.float32)
    pump = (rng.uniform(size=(n, T)) < 0.3).astype(np.float32)
    upstream = np.zeros((n, T), np.float32)
    level = np.zeros((n, T), np.float32)
    fast = np.zeros(n, np.float32)
    slow = np.zeros(n, np.float32)
    for k in range(T):
        fast = 0.55 * fast + rain[:, k]
        slow = 0.92 * slow + 0.15 * rain[:, k] + 0.05 * diurnal[:, k]
        upstream[:, k] = 0.3 * fast + 0.7 * slow
        level[:, k] = 0.25 * fast + 0.6 * slow + 0.2 * diurnal[:, k] - 0.35 * pump[:, k]
    x = np.stack([rain, diurnal, pump, upstream], -1)
    return x.astype(np.float32), level[..., None].astype(np.float32)


class DiagLRU(nn.Module):
    def __init__(self, d_in, d_state):
        super().__init__()
        # decay a = exp(-exp(nu_log)), initialised in [0.5, 0.98]
        a0 = np.linspace(0.5, 0.98, d_state)
        self.nu_log = mx.array(np.log(-np.log(a0)).astype(np.float32))
        self.B = nn.Linear(d_in, d_state, bias=False)
        self.C = nn.Linear(d_state, d_in, bias=False)
        self.D = mx.zeros((d_in,))

    def __call__(self, u):
        a = mx.exp(-mx.exp(self.nu_log))
        gamma = mx.sqrt(1.0 - a * a)
        bu = self.B(u) * gamma
        h = mx.zeros((u.shape[0], a.shape[0]))
        outs = []
        for k in range(u.shape[1]):
            h = a * h + bu[:, k]
            outs.append(h)
        hs = mx.stack(outs, axis=1)
        return self.C(hs) + self.D * u


class WetWellNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 24)
        self.lru = DiagLRU(24, 48)
        self.norm = nn.LayerNorm(24)
        self.head = nn.Linear(24, 1)

    def __call__(self, x):
        z = nn.gelu(self.inp(x))
        z = z + self.lru(self.norm(z))
        return self.head(nn.gelu(z))


x_val, y_val = make_batch(256)
x_val, y_val = mx.array(x_val), mx.array(y_val)
train_mean = float(y_val.mean())
baseline_mse = float(((y_val - train_mean) ** 2).mean())

model = WetWellNet()
mx.eval(model.parameters())
steps = 240
warm = 30
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps - warm, 2e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# one-off audit: every trainable tensor receives gradient
xa, ya = make_batch(16)
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(xa), mx.array(ya))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

stages = [(0, 0.0), (100, 0.25), (170, 0.5)]  # (start step, gauge noise sd)
t0 = time.time()
for it in range(steps):
    noise = [s for s in stages if it >= s[0]][-1][1]
    xb, yb = make_batch(32)
    if noise > 0:
        xb[..., 3] += rng.normal(0, noise, xb[..., 3].shape).astype(np.float32)
        xb[..., 0] += np.abs(rng.normal(0, noise, xb[..., 0].shape)).astype(np.float32)
    loss = step(mx.array(xb), mx.array(yb))
    mx.eval(loss, model.state, opt.state)
    if it % 30 == 0 or it == steps - 1 or it in (100, 170):
        val = float(loss_fn(model, x_val, y_val))
        decay = mx.exp(-mx.exp(model.lru.nu_log))
        print(json.dumps({
            "step": it, "stage": 1 + sum(it >= s[0] for s in stages[1:]),
            "gauge_noise_sd": noise, "lr": round(float(opt.learning_rate), 6),
            "train_mse_m2": round(float(loss), 5), "val_mse_m2": round(val, 5),
            "mean_level_baseline_m2": round(baseline_mse, 5),
            "skill_vs_baseline_pct": round(100 * (1 - val / baseline_mse), 1),
            "decay_min": round(float(decay.min()), 3), "decay_max": round(float(decay.max()), 3),
        }))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                  "final_val_mse_m2": round(float(loss_fn(model, x_val, y_val)), 5)}))
