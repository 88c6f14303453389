"""Turntable service bench: predict wow & flutter (%, weighted) of a serviced deck.

Synthetic bench logs. Stage "33" trains on 33 1/3 rpm measurements only; stage
"33+45+78" then adds the faster speeds, whose flutter grows with a belt-slip
term the model has not seen yet, so the loss jumps up when that stage opens.
Each stage rebuilds its optimizer with a warmup from exactly 0.
Output: one JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(146)
mx.random.seed(146)


def bench_logs(n, speeds):
    belt_age = rng.uniform(0, 12, n)            # years
    platter_kg = rng.uniform(0.6, 3.5, n)
    motor_v = rng.normal(16.0, 0.6, n)
    oil_age = rng.uniform(0, 8, n)              # years since bearing oil
    room_c = rng.normal(21, 3, n)
    spd = rng.choice(speeds, n)
    rpm_idx = np.select([spd == 33, spd == 45, spd == 78], [0, 1, 2])
    onehot = np.eye(3)[rpm_idx]
    rpm = np.array([33.33, 45.0, 78.0])[rpm_idx]
    # made-up law (% weighted W&F)
    slip = 0.004 * belt_age * (rpm / 33.33) ** 1.6
    inertia = 0.05 / np.sqrt(platter_kg)
    wf = (0.03 + inertia + slip + 0.006 * oil_age ** 1.3
          + 0.02 * np.abs(motor_v - 16.0) + 0.0015 * (room_c - 21) ** 2 / 9
          + 0.02 * onehot[:, 2] * (belt_age > 6))
    wf = wf + rng.normal(0, 0.006, n)
    X = np.stack([belt_age / 6 - 1, platter_kg - 2, motor_v - 16, oil_age / 4 - 1,
                  (room_c - 21) / 3], 1)
    X = np.concatenate([X, onehot], 1).astype(np.float32)
    return X, (wf * 100).astype(np.float32)   # hundredths of a percent


class WowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


model = WowNet()
mx.eval(model.parameters())

stages = [("33", [33], 900), ("33+45+78", [33, 45, 78], 1400)]
Xval_all, yval_all = bench_logs(1500, [33, 45, 78])
Xv, yv = mx.array(Xval_all), mx.array(yval_all)
batch = 128
t0 = time.time()
gstep = 0
for stage_name, speeds, steps in stages:
    Xtr, ytr = bench_logs(6000, speeds)
    Xtr, ytr = mx.array(Xtr), mx.array(ytr)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 150), optim.cosine_decay(3e-3, steps - 150, 1e-4)],
        [150])
    opt = optim.Adamax(learning_rate=sched)
    state = [model.state, opt.state]

    def _raw_step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return loss

    step = mx.compile(_raw_step, inputs=state, outputs=state)

    first_lr = None
    for i in range(steps):
        idx = mx.array(rng.integers(0, Xtr.shape[0], batch))
        lr_now = float(sched(i))
        if first_lr is None:
            first_lr = lr_now
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        gstep += 1
        if i % 100 == 0 or i == steps - 1:
            pv = model(Xv)
            mae = mx.abs(pv - yv).mean()
            hi = Xv[:, 7] > 0.5
            mae78 = (mx.abs(pv - yv) * hi).sum() / mx.maximum(hi.sum(), 1)
            print(json.dumps({
                "stage": stage_name, "it": i, "global": gstep,
                "lr": round(lr_now, 6), "huber": round(loss.item(), 4),
                "val_mae_cpct": round(mae.item(), 3),
                "val_mae_78_cpct": round(mae78.item(), 3),
                "sec": round(time.time() - t0, 2)}), flush=True)
    print(json.dumps({"stage_done": stage_name, "lr_at_step0": first_lr,
                      "lr_final": float(opt.learning_rate)}), flush=True)

# baseline: predict the training mean
base = mx.abs(yv - yv.mean()).mean().item()
final = mx.abs(model(Xv) - yv).mean().item()
print(json.dumps({"summary": True, "val_mae_cpct": round(final, 3),
                  "mean_predictor_mae_cpct": round(base, 3),
                  "skill_pct": round(100 * (1 - final / base), 1)}))
