"""Burst-altitude regression for sounding-balloon launches.

Lion + cosine warm restarts (each cycle ramps up from lr = 0), compiled step,
JSON-lines log with a least-squares reference printed beside the net.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2061)
N = 2400


def make_launches(n):
    envelope_g = rng.uniform(300, 1200, n)        # latex envelope mass
    payload_kg = rng.uniform(0.2, 2.0, n)
    fill_m3 = rng.uniform(2.0, 6.0, n)
    ground_c = rng.uniform(-15, 30, n)
    hydrogen = rng.integers(0, 2, n).astype(np.float64)
    jet_kt = rng.uniform(10, 140, n)              # upper wind, only mildly relevant
    free_lift = fill_m3 * (1.1 + 0.08 * hydrogen) - payload_kg - envelope_g / 1000.0
    burst_km = (
        21.0
        + 7.5 * np.log(envelope_g / 300.0)
        - 3.0 * np.tanh(free_lift - 1.0)
        - 0.9 * payload_kg ** 1.5
        + 0.04 * ground_c
        + 0.6 * hydrogen
        - 0.004 * jet_kt
        + rng.normal(0, 0.45, n)
    )
    X = np.stack([envelope_g, payload_kg, fill_m3, ground_c, hydrogen, jet_kt], 1)
    return X, burst_km


X, y = make_launches(N)
idx = rng.permutation(N)
tr, va = idx[:2000], idx[2000:]
mu, sd = X[tr].mean(0), X[tr].std(0)
Xs = (X - mu) / sd
y_mean = y[tr].mean()

# least-squares reference (printed beside the network, lower is better for both)
A = np.c_[Xs[tr], np.ones(len(tr))]
coef, *_ = np.linalg.lstsq(A, y[tr], rcond=None)
ref_mae = float(np.abs(np.c_[Xs[va], np.ones(len(va))] @ coef - y[va]).mean())

Xtr, ytr = mx.array(Xs[tr], dtype=mx.float32), mx.array(y[tr] - y_mean, dtype=mx.float32)
Xva, yva = mx.array(Xs[va], dtype=mx.float32), mx.array(y[va] - y_mean, dtype=mx.float32)


class BurstNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = BurstNet()
PEAK, FLOOR, WARM = 2e-3, 1e-5, 12
CYCLES = [80, 160, 320]


def lr_at(cycle_len, t):
    if t < WARM:
        return PEAK * t / WARM                    # t = 0 -> exactly 0
    p = (t - WARM) / max(1, cycle_len - WARM)
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * p))


opt = optim.Lion(learning_rate=0.0, betas=[0.9, 0.99], weight_decay=0.02)


def loss_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


def val_mae():
    return mx.mean(mx.abs(model(Xva) - yva)).item()


t0 = time.time()
B = 128
print(json.dumps({"event": "start", "n_train": len(tr), "n_val": len(va),
                  "ref_lstsq_val_mae_km": round(ref_mae, 4), "cycles": CYCLES}))
gstep = 0
best = None
for c, L in enumerate(CYCLES, 1):
    run = 0.0
    for t in range(L):
        lr = lr_at(L, t)
        opt.learning_rate = lr
        sel = mx.array(rng.integers(0, len(tr), B))
        loss = train_step(Xtr[sel], ytr[sel])
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        gstep += 1
        if (t + 1) % 20 == 0 or t == 0:
            mae = val_mae()
            print(json.dumps({"cyc": c, "it": t, "step": gstep, "lr": float(f"{lr:.3e}"),
                              "mse_km2": round(run / (1 if t == 0 else 20), 4),
                              "val_mae_km": round(mae, 4),
                              "ref_mae_km": round(ref_mae, 4)}))
            run = 0.0
    mae = val_mae()
    best = mae if best is None else min(best, mae)
    print(json.dumps({"event": "restart" if c < len(CYCLES) else "end_cycle", "cyc": c,
                      "val_mae_km": round(mae, 4), "vs_ref_pct": round(100 * mae / ref_mae, 1)}))

print(json.dumps({"event": "summary", "steps": gstep, "final_val_mae_km": round(val_mae(), 4),
                  "best_cycle_end_mae_km": round(best, 4), "ref_lstsq_val_mae_km": round(ref_mae, 4),
                  "noise_floor_km": 0.36, "wall_s": round(time.time() - t0, 2)}))
