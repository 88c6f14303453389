"""Hang-gliding test flights: sink rate (m/s) from airspeed, VG setting, pilot mass, bank.

Stage "single" fits only on single-surface training wings; stage "fleet" then adds
double-surface, kingposted and topless wings (different polars), so the error jumps
at the stage change before it comes back down. The learning rate warms up from 0
in every stage. Progress is written as JSON lines, with a predict-the-mean
baseline beside the model's error.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
WINGS = ["single", "double", "kingpost", "topless"]


def make_flights(n):
    w = rng.integers(0, 4, n)
    v = rng.uniform(28, 70, n)            # airspeed km/h
    vg = rng.uniform(0, 100, n)           # VG cord pulled, %
    mass = rng.uniform(60, 110, n)        # pilot hook-in mass, kg
    bank = rng.uniform(0, 45, n)          # degrees
    vmin = np.array([30, 34, 33, 36])[w] + 0.06 * (mass - 80)
    k = np.array([0.0016, 0.0011, 0.0012, 0.0009])[w] * (1 - 0.25 * vg / 100)
    base = np.array([1.05, 0.95, 0.98, 0.92])[w]
    sink = base + k * (v - vmin) ** 2 + 0.012 * (mass - 80) * (w == 0)
    sink = sink / np.sqrt(np.cos(np.radians(bank))) ** 3 + rng.normal(0, 0.05, n)
    x = np.stack([(v - 49) / 12, (vg - 50) / 29, (mass - 85) / 14.5, (bank - 22.5) / 13],
                 1).astype(np.float32)
    return x, w.astype(np.int32), sink.astype(np.float32)


class SinkNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.wing = nn.Embedding(4, 6)
        self.l1 = nn.Linear(4 + 6, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x, w):
        h = mx.concatenate([x, self.wing(w)], axis=-1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return 1.5 + self.head(h).squeeze(-1)


def loss_fn(model, x, w, y):
    return mx.mean((model(x, w) - y) ** 2)


xtr, wtr, ytr = make_flights(3000)
xva, wva, yva = make_flights(600)
Xva, Wva = mx.array(xva), mx.array(wva)

model = SinkNet()
mx.eval(model.parameters())
vg_fn = nn.value_and_grad(model, loss_fn)

stages = [("single", wtr == 0, 300), ("fleet", np.ones_like(wtr, dtype=bool), 500)]
batch = 64
for stage, mask, steps in stages:
    pool = np.nonzero(mask)[0]
    warm = steps // 5
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    base = float(np.mean((ytr[pool].mean() - yva) ** 2))
    if stage == "fleet":
        # audit: every tensor must receive gradient once all wings are in the batch
        _, grads = vg_fn(model, mx.array(xtr[:512]), mx.array(wtr[:512]), mx.array(ytr[:512]))
        norms = [float(mx.linalg.norm(g.reshape(-1))) for _, g in tree_flatten(grads)]
        print(json.dumps({"audit": "grad_norms", "min": round(min(norms), 5),
                          "max": round(max(norms), 3), "tensors": len(norms)}))
    for step in range(1, steps + 1):
        b = rng.choice(pool, batch)
        loss, grads = vg_fn(model, mx.array(xtr[b]), mx.array(wtr[b]), mx.array(ytr[b]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 50 == 0:
            err = np.array(model(Xva, Wva)) - yva
            per = {WINGS[k]: round(float(np.sqrt(np.mean(err[wva == k] ** 2))), 3) for k in range(4)}
            print(json.dumps({"stage": stage, "step": step, "lr": round(float(opt.learning_rate), 6),
                              "batch_mse": round(loss.item(), 4),
                              "val_mse": round(float(np.mean(err ** 2)), 4),
                              "baseline_mse": round(base, 4), "rmse_by_wing_ms": per}))

err = np.array(model(Xva, Wva)) - yva
print("wing        n   rmse(m/s)  mae(m/s)")
for k, name in enumerate(WINGS):
    m = wva == k
    print(f"{name:<10} {m.sum():4d}  {np.sqrt(np.mean(err[m]**2)):8.3f}  {np.mean(np.abs(err[m])):8.3f}")
print(f"overall val rmse {np.sqrt(np.mean(err**2)):.3f} m/s "
      f"(predict-the-mean: {np.sqrt(np.mean((ytr.mean() - yva) ** 2)):.3f} m/s)")
