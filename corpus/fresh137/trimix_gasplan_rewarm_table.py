"""Dive-gas planning surrogate: learn ppO2, equivalent narcotic depth and a
no-stop-limit proxy from (fO2, fHe, depth, bottom time).

Stage "nitrox" only sees recreational air/nitrox dives; stage "trimix" then
adds helium mixes and deep dives, so its first rows are worse before they
improve.  Each stage re-warms the learning rate linearly from exactly 0.
The input scaler is a frozen module on purpose (fixed dive-table units).
"""
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)


def make_dives(n, stage):
    rows, tgts = [], []
    for _ in range(n):
        if stage == "nitrox":
            fo2 = random.uniform(0.21, 0.40)
            fhe = 0.0
            depth = random.uniform(6.0, 40.0)
        else:
            fo2 = random.uniform(0.10, 0.32)
            fhe = random.uniform(0.0, 0.55)
            depth = random.uniform(20.0, 90.0)
        bt = random.uniform(10.0, 60.0)
        ata = depth / 10.0 + 1.0
        ppo2 = fo2 * ata
        end = (depth + 10.0) * (1.0 - fhe) - 10.0
        # made-up no-stop proxy (log minutes), shallower/leaner gas = longer
        ndl = math.log(1.0 + 400.0 / (ata ** 2 * (1.0 - fo2 + 0.3 * fhe))) - 0.01 * bt
        rows.append([fo2, fhe, depth, bt])
        tgts.append([ppo2, end / 10.0, ndl])
    x = mx.array(rows)
    y = mx.array(tgts)
    y = y + 0.02 * mx.random.normal(y.shape)
    return x, y


class TableUnits(nn.Module):
    """Fixed conversion to dive-table units; frozen on purpose."""

    def __init__(self):
        super().__init__()
        self.offset = mx.array([0.21, 0.0, 30.0, 35.0])
        self.scale = mx.array([0.1, 0.3, 25.0, 15.0])

    def __call__(self, x):
        return (x - self.offset) / self.scale


class GasPlanner(nn.Module):
    def __init__(self):
        super().__init__()
        self.units = TableUnits()
        self.body = nn.Sequential(
            nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 3)
        )

    def __call__(self, x):
        return self.body(self.units(x))


model = GasPlanner()
model.units.freeze()
mx.eval(model.parameters())


def losses(model, x, y):
    err = (model(x) - y) ** 2
    per = mx.mean(err, axis=0)
    return mx.sum(per), per


loss_and_grad = nn.value_and_grad(model, lambda m, x, y: losses(m, x, y)[0])

STAGES = [("nitrox", 300), ("trimix", 450)]
BATCH = 128
t0 = time.time()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable={n_train}  frozen_units={model.units.offset.size + model.units.scale.size}")

for stage, steps in STAGES:
    xtr, ytr = make_dives(4000, stage)
    xva, yva = make_dives(800, stage)
    base_pred = mx.mean(ytr, axis=0)
    base = mx.sum(mx.mean((yva - base_pred) ** 2, axis=0)).item()
    warm = optim.linear_schedule(0.0, 2e-3, 60)
    decay = optim.cosine_decay(2e-3, steps - 60, 1e-4)
    sched = optim.join_schedules([warm, decay], [60])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    print(f"\n== stage {stage}: {steps} steps, lr re-warmed from 0 ==")
    print(f"{'step':>5} {'lr':>9} {'ppO2':>8} {'END':>8} {'NDL':>8} {'val':>8} {'mean-pred':>9}")
    for step in range(steps):
        idx = mx.random.randint(0, xtr.shape[0], (BATCH,))
        lr_now = sched(mx.array(step)).item()
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == steps - 1:
            vtot, vper = losses(model, xva, yva)
            mx.eval(vtot, vper)
            p = vper.tolist()
            print(f"{step:>5} {lr_now:>9.2e} {p[0]:>8.4f} {p[1]:>8.4f} {p[2]:>8.4f} {vtot.item():>8.4f} {base:>9.4f}")

print(f"\nfinished in {time.time() - t0:.1f}s")
