# Cave-diving gas planning: predict bar consumed on a dive from its profile.
# Stage "shallow" first, then stage "deep" (gas density makes breathing cost
# non-linear), each stage with its own warm-up from lr 0. Logged with logging.
import logging
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(format="%(asctime)s %(levelname)s [gasplan] %(message)s",
                    datefmt="%H:%M:%S", level=logging.INFO)
log = logging.getLogger("gasplan")
rng = np.random.default_rng(11)
mx.random.seed(11)


def dives(n, deep):
    depth = rng.uniform(6, 30, n) if not deep else rng.uniform(25, 60, n)
    bottom = rng.uniform(10, 60, n)
    tank_l = rng.choice([11.1, 12.0, 15.0, 24.0], n)
    sac = rng.uniform(12, 25, n)                  # surface air consumption, L/min
    temp = rng.uniform(8, 22, n)                  # water temperature, deg C
    ata = depth / 10 + 1
    work = sac * (1 + 0.012 * np.maximum(ata - 3, 0) ** 2) * (1 + 0.01 * (16 - temp))
    litres = work * ata * bottom + sac * (ata + 1) / 2 * depth / 9  # bottom + travel
    bar = litres / tank_l
    x = np.stack([depth / 30, bottom / 30, tank_l / 15, sac / 18, temp / 15], 1)
    return mx.array(x.astype(np.float32)), mx.array((bar / 100).astype(np.float32))


class GasNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h).squeeze(-1)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


def linear_baseline_mae(xtr, ytr, xva, yva):
    a = np.c_[np.array(xtr), np.ones(xtr.shape[0])]
    w, *_ = np.linalg.lstsq(a, np.array(ytr), rcond=None)
    p = np.c_[np.array(xva), np.ones(xva.shape[0])] @ w
    return float(np.mean(np.abs(p - np.array(yva)))) * 100


model = GasNet()
mx.eval(model.parameters())

for stage, deep, steps in [("shallow", False, 300), ("deep", True, 300)]:
    xtr, ytr = dives(2048, deep)
    xva, yva = dives(512, deep)
    if deep:  # keep some shallow dives so the first stage is not forgotten
        xs, ys = dives(512, False)
        xtr, ytr = mx.concatenate([xtr, xs]), mx.concatenate([ytr, ys])
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, steps - 40, 1e-4)], [40])
    opt = optim.Adamax(learning_rate=sched)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, g)
        return loss

    ref = linear_baseline_mae(xtr, ytr, xva, yva)
    log.info("stage=%s dives=%d linear-fit ref MAE %.2f bar", stage, xtr.shape[0], ref)
    for s in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], 128))
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if s % 50 == 0 or s == steps - 1:
            va = mx.mean(mx.abs(model(xva) - yva)).item() * 100
            log.info("stage=%s step=%03d lr=%.5f train_mse=%.5f val_mae=%.2f bar (ref %.2f) rmse=%.2f bar",
                     stage, s, opt.learning_rate.item(),
                     loss.item(), va, ref, math.sqrt(loss.item()) * 100)

xs, ys = dives(512, False)
log.info("final shallow-holdout MAE %.2f bar", mx.mean(mx.abs(model(xs) - ys)).item() * 100)
