# Parking deck occupancy forecaster.
# Predicts the occupied fraction of a 6-level parking deck from calendar
# features. Stage "commuter" trains on weekdays only; stage "mixed" then adds
# weekends and event nights (harder, so the error jumps when it starts).
# Gradients go through mx.distributed (one process here, same code on a pod).
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

rng = np.random.default_rng(20261127)
mx.random.seed(5)
world = mx.distributed.init()


def make_days(n, weekends):
    hour = rng.uniform(0, 24, n)
    dow = rng.integers(0, 7 if weekends else 5, n)
    rain = rng.uniform(0, 1, n)
    event = (rng.uniform(0, 1, n) < (0.25 if weekends else 0.0)).astype(np.float64)
    commute = np.exp(-((hour - 9.0) ** 2) / 6.0) + 0.8 * np.exp(-((hour - 14.0) ** 2) / 10.0)
    wk = (dow >= 5).astype(np.float64)
    night = np.exp(-((hour - 20.5) ** 2) / 3.0)
    occ = 0.08 + 0.78 * commute * (1 - 0.7 * wk) + 0.25 * wk * np.exp(-((hour - 13) ** 2) / 12) \
        + 0.55 * event * night + 0.06 * rain
    occ = np.clip(occ + rng.normal(0, 0.02, n), 0, 1)
    x = np.stack([np.sin(2 * math.pi * hour / 24), np.cos(2 * math.pi * hour / 24),
                  np.sin(2 * math.pi * dow / 7), np.cos(2 * math.pi * dow / 7),
                  wk, rain, event], axis=1)
    return mx.array(x.astype(np.float32)), mx.array(occ.astype(np.float32)[:, None])


class Deck(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return mx.sigmoid(self.out(h))


def loss_fn(model, x, y):
    return mx.mean(mx.abs(model(x) - y) ** 1.5)


model = Deck()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)

stages = [("commuter", False, 300), ("mixed", True, 400)]
val_x, val_y = make_days(1500, True)
baseline_mae = float(mx.mean(mx.abs(val_y - mx.mean(val_y))))

t0 = time.time()
for stage, weekends, steps in stages:
    # lr starts at exactly 0 every stage and warms up, then cosine decay
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, steps - 60, 1e-4)], [60])
    opt = optim.Adam(learning_rate=sched)
    tx, ty = make_days(4000, weekends)
    for step in range(steps):
        idx = mx.array(rng.integers(0, tx.shape[0], 128))
        loss, grads = grad_fn(model, tx[idx], ty[idx])
        grads = tree_map(lambda g: mx.distributed.all_sum(g) / world.size(), grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            pred = model(val_x)
            mae = float(mx.mean(mx.abs(pred - val_y)))
            print(json.dumps({"stage": stage, "step": step, "lr": round(float(opt.learning_rate), 6),
                              "train_l15": round(float(loss), 5),
                              "val_mae_pct": round(100 * mae, 2),
                              "naive_mae_pct": round(100 * baseline_mae, 2),
                              "rank": world.rank()}))

pred = model(val_x)
levels = mx.round(pred * 6)
spots_err = float(mx.mean(mx.abs(pred - val_y))) * 840
print(json.dumps({"summary": True, "val_mae_pct": round(100 * float(mx.mean(mx.abs(pred - val_y))), 2),
                  "mean_abs_spots_of_840": round(spots_err, 1),
                  "levels_full_mean": round(float(mx.mean(levels)), 2),
                  "seconds": round(time.time() - t0, 1)}))
