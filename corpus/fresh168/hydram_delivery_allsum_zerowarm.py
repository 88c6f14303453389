"""Hydraulic ram pump: predict delivered water (dL/min) at the header tank from a ram log.

Single-host run, but the step is written for data-parallel training: gradients are
averaged with mx.distributed.all_sum over the group (world size 1 here).
The learning rate warms up linearly from exactly 0.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
mx.random.seed(11 + RANK)


def make_log(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    drive_head_m = 0.5 + 2.5 * u[:, 0]     # fall from the spring box to the ram, m
    lift_m = 4.0 + 26.0 * u[:, 1]          # delivery height above the ram, m
    pipe_len_m = 6.0 + 24.0 * u[:, 2]      # drive pipe length, m
    stroke_mm = 5.0 + 20.0 * u[:, 3]       # waste-valve stroke, mm
    snifter_open = 0.2 + 0.8 * u[:, 4]     # air snifter opening fraction
    season = 2 * math.pi * u[:, 5]         # time of year (spring flow)
    supply = drive_head_m * (0.8 + 0.2 * mx.cos(season))
    beats = 60.0 / (1.0 + 0.03 * stroke_mm) * mx.sqrt(supply / (pipe_len_m / 15.0))
    l_min = (9.0 * supply * beats / 60.0 * (stroke_mm / 15.0) ** 0.7
             * (drive_head_m / lift_m) * 0.65 * (0.85 + 0.15 * snifter_open))
    l_min = 10.0 * l_min + 0.15 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([drive_head_m, lift_m, pipe_len_m, stroke_mm, snifter_open,
                  mx.sin(season), mx.cos(season)], axis=1)
    return x, l_min


xtr, ytr = make_log(4096, mx.random.key(1))
xva, yva = make_log(1024, mx.random.key(2))
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
ymu, ysd = ytr.mean(), ytr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


class RamBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = RamBody()
mx.eval(model.parameters())

STEPS, BATCH, WARM = 900, 128, 150
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 1e-4)],
    [WARM])
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - ymu) / ysd, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def step(x, y):
    loss, grads = grad_fn(model, x, y)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
    loss = mx.distributed.all_sum(loss, group=group) / WORLD
    opt.update(model, grads)
    return loss


# one-off audit: every trained tensor receives gradient
_, g0 = grad_fn(model, xtr[:256], ytr[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

base_mae = float(mx.abs(yva - ytr.mean()).mean())  # predict-the-mean plumber's guess
t0 = time.time()
n = xtr.shape[0]
for it in range(1, STEPS + 1):
    idx = mx.random.randint(0, n, (BATCH,))
    loss = step(xtr[idx], ytr[idx])
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 75 == 0:
        pred = model(xva) * ysd + ymu
        mae = float(mx.abs(pred - yva).mean())
        print(json.dumps({"event": "tick", "rank": RANK, "step": it,
                          "lr": round(float(opt.learning_rate), 6),
                          "huber": round(float(loss), 5),
                          "val_mae_dl_min": round(mae, 3),
                          "ref_mae_dl_min": round(base_mae, 3),
                          "skill_pct": round(100 * (1 - mae / base_mae), 1)}))

pred = model(xva) * ysd + ymu
mae = float(mx.abs(pred - yva).mean())
print(json.dumps({"event": "done", "world": WORLD, "steps": STEPS,
                  "val_mae_dl_min": round(mae, 3), "ref_mae_dl_min": round(base_mae, 3),
                  "noise_floor_dl_min": round(0.15 * math.sqrt(2 / math.pi), 3),
                  "seconds": round(time.time() - t0, 1)}))
