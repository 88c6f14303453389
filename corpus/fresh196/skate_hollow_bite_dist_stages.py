"""Skate-sharpening shop: predict edge-bite score (0-10) of a freshly ground blade.

Features: hollow radius (mm), steel hardness (HRC), skater mass (kg),
ice temperature (C), stone passes.  Stage "club" sees recreational skates only;
stage "mixed" adds hockey + figure blades (wider ranges, extra interaction),
so its first losses are higher than where "club" ended.

Runs data-parallel through mx.distributed (a single process here works the same).
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
mx.random.seed(11 + RANK)


def make_shop_data(n, mixed, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 5), key=k1)
    lo = mx.array([12.0, 56.0, 45.0, -7.0, 3.0])
    hi = mx.array([19.0, 60.0, 85.0, -3.0, 8.0])
    if mixed:
        lo = mx.array([9.0, 54.0, 30.0, -9.0, 2.0])
        hi = mx.array([25.0, 62.0, 110.0, -1.0, 12.0])
    raw = lo + u * (hi - lo)
    hollow, hrc, mass, ice, passes = [raw[:, i] for i in range(5)]
    bite = (6.0 - 0.35 * (hollow - 14.0) + 0.25 * (hrc - 58.0)
            + 0.02 * (mass - 65.0) - 0.3 * (ice + 5.0)
            + 1.2 * mx.tanh((passes - 5.0) / 2.0))
    if mixed:
        bite = bite + 0.04 * (hollow - 14.0) * (ice + 5.0) * (mass / 70.0) \
                    - 0.8 * mx.sin(hollow / 2.5)
    bite = mx.clip(bite + 0.25 * mx.random.normal((n,), key=k2), 0.0, 10.0)
    x = (raw - mx.array([16.0, 58.0, 70.0, -5.0, 6.0])) / mx.array([5.0, 2.5, 25.0, 2.5, 3.0])
    return x, bite


class BiteNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = BiteNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, mse)

key = mx.random.key(2024)
stages = [("club", False, 240, 3e-3), ("mixed", True, 300, 2e-3)]
for stage_name, mixed, steps, peak_lr in stages:
    key, kd, kv = mx.random.split(key, 3)
    xtr, ytr = make_shop_data(3000, mixed, kd)
    xva, yva = make_shop_data(600, mixed, kv)
    base_mse = mx.mean((yva - ytr.mean()) ** 2).item()  # predict-the-mean reference
    warm = 30
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, steps - warm, end=peak_lr * 0.05)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.05)
    t0 = time.time()
    for step in range(steps):
        idx = mx.random.randint(0, xtr.shape[0], (128,))
        loss, grads = grad_fn(model, xtr[idx], ytr[idx])
        # average across workers (no-op for a single process)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
        loss = mx.distributed.all_sum(loss, group=group) / WORLD
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if RANK == 0 and (step % 20 == 0 or step == steps - 1):
            rec = {"stage": stage_name, "step": step, "lr": round(opt.learning_rate.item(), 7),
                   "loss": round(loss.item(), 4)}
            if step % 60 == 0 or step == steps - 1:
                val = mse(model, xva, yva).item()
                rec.update({"val_mse": round(val, 4), "mean_pred_mse": round(base_mse, 4),
                            "val_rmse_pts": round(math.sqrt(val), 3)})
            print(json.dumps(rec))
    if RANK == 0:
        print(json.dumps({"stage_done": stage_name, "secs": round(time.time() - t0, 2),
                          "world": WORLD}))
