"""Biathlon range: predict whether a shot misses from range-side readings.

Warm-restart AdamW (lr starts at exactly 0, then three cosine cycles of
growing length), compiled train step, one JSON line per epoch.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2147)


def make_shots(n):
    hr = rng.normal(165, 12, n)                 # heart rate on arrival, bpm
    wind = np.abs(rng.normal(2.0, 1.4, n))      # mean wind, m/s
    gust = wind * rng.uniform(1.0, 2.2, n)      # gust peak, m/s
    standing = rng.integers(0, 2, n)            # 0 prone, 1 standing
    shot_t = rng.normal(5.5, 1.3, n).clip(2.5)  # seconds spent on the shot
    lap_pace = rng.normal(0, 1, n)              # z-score of last lap speed
    temp = rng.normal(-6, 5, n)                 # air temperature, C
    z = (-1.9 + 0.045 * (hr - 165) + 0.35 * (gust - 2.5)
         + 1.1 * standing + 0.02 * standing * (hr - 165)
         - 0.55 * np.tanh(shot_t - 4.0) + 0.3 * lap_pace
         + 0.04 * np.maximum(-temp - 10, 0) * standing)
    miss = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.float32)
    x = np.stack([hr, wind, gust, standing, shot_t, lap_pace, temp], 1)
    return x.astype(np.float32), miss


x_tr, y_tr = make_shots(24000)
x_va, y_va = make_shots(4000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
x_tr, y_tr, x_va, y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))


class RangeNet(nn.Module):
    def __init__(self, d_in=7, width=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


mx.random.seed(7)
model = RangeNet()
mx.eval(model.parameters())

BATCH = 128
steps_per_epoch = x_tr.shape[0] // BATCH
warm = 25
cycles = [2, 4, 8]                       # epochs per cosine cycle (SGDR, T_mult=2)
peak = 1.2e-2
sched_parts = [optim.linear_schedule(0.0, peak, warm)]
bounds = [warm]
for i, c in enumerate(cycles):
    n = c * steps_per_epoch - (warm if i == 0 else 0)
    sched_parts.append(optim.cosine_decay(peak, n, 1e-5))
    bounds.append(bounds[-1] + n)
lr_fn = optim.join_schedules(sched_parts, bounds[:-1])
opt = optim.AdamW(learning_rate=lr_fn, weight_decay=1e-4)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, bce)(model, xb, yb)
    opt.update(model, grads)
    return loss


# grad check before training: every trainable leaf must receive signal
_, g0 = nn.value_and_grad(model, bce)(model, x_tr[:512], y_tr[:512])
from mlx.utils import tree_flatten
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
assert not zero_leaves, zero_leaves

p_base = float(y_tr.mean())
base_bce = -(p_base * math.log(p_base) + (1 - p_base) * math.log(1 - p_base))
print(json.dumps({"event": "start", "shots_train": int(x_tr.shape[0]),
                  "miss_rate_pct": round(100 * p_base, 2),
                  "const_bce": round(base_bce, 4), "cycles_epochs": cycles,
                  "lr_at_step0": float(lr_fn(mx.array(0)).item())}))

epoch_cycle = []
for ci, c in enumerate(cycles):
    epoch_cycle += [(ci, e) for e in range(c)]

t0 = time.time()
for ep, (ci, ec) in enumerate(epoch_cycle):
    perm = mx.random.permutation(x_tr.shape[0])
    tot = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = train_step(x_tr[idx], y_tr[idx])
        mx.eval(loss, model.state, opt.state)
        tot += loss.item()
    logits = model(x_va)
    p = mx.sigmoid(logits)
    vb = nn.losses.binary_cross_entropy(logits, y_va, with_logits=True, reduction="mean")
    brier = mx.mean((p - y_va) ** 2)
    called = mx.mean(((p > 0.5) == (y_va > 0.5)).astype(mx.float32))
    mx.eval(vb, brier, called)
    print(json.dumps({"ep": ep, "cycle": ci, "ep_in_cycle": ec,
                      "lr": float(f"{opt.learning_rate.item():.3e}"),
                      "bce": round(tot / steps_per_epoch, 4),
                      "val_bce": round(vb.item(), 4),
                      "const_bce": round(base_bce, 4),
                      "brier": round(brier.item(), 4),
                      "calls_right_pct": round(100 * called.item(), 2)}))

print(json.dumps({"event": "done", "epochs": len(epoch_cycle),
                  "secs": round(time.time() - t0, 2),
                  "final_val_bce": round(vb.item(), 4),
                  "gain_vs_const": round(base_bce - vb.item(), 4)}))
