"""Marimba workshop: grinding time per bar.

Predict how many seconds of undercut grinding a blank bar needs before its
fundamental sits in tune, from 8 bench measurements.  Training runs in two
stages: seasoned rosewood bars first, then a mixed-stock batch (noisier, with a
moisture term the rosewood data never shows), so stage 2 starts worse on purpose.
Each stage gets a fresh Lion optimizer whose learning rate warms up from 0.
Output is one JSON object per line.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["room_c", "length_mm", "width_mm", "mass_g",
            "moisture", "density", "stock_age_d", "cents_off"]


def make_bars(rng, n, mixed):
    room = rng.uniform(8, 30, n)
    length = rng.uniform(180, 720, n)
    width = rng.uniform(44, 84, n)
    mass = rng.uniform(250, 900, n)
    moist = rng.uniform(0, 1.0 if mixed else 0.25, n)
    dens = rng.uniform(0.2, 0.95, n)
    age = rng.uniform(0, 500, n)
    cents = rng.uniform(-0.5, 1.0, n)
    load = mass / width * 21.0
    secs = (4.0 + 0.055 * load + 0.06 * (30 - room) + 0.0028 * length
            + 0.004 * age + 2.2 * np.clip(cents, 0, None)
            - 0.8 * np.clip(cents, None, 0) + 0.9 * dens
            + 0.002 * load * (30 - room) / 10.0)
    noise = 0.35
    if mixed:
        secs = secs + 3.0 * moist ** 2 + 1.2 * moist * np.sin(length / 180.0)
        noise = 0.9
    secs = secs + rng.normal(0, noise, n)
    X = np.stack([room, length, width, mass, moist, dens, age, cents], 1)
    return X.astype(np.float32), secs.astype(np.float32)


class GrindNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def mse_loss(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    rose_tr, rose_va = make_bars(rng, 4000, False), make_bars(rng, 1000, False)
    mixed_tr, mixed_va = make_bars(rng, 4000, True), make_bars(rng, 1000, True)
    mu = rose_tr[0].mean(0)
    sd = rose_tr[0].std(0) + 1e-6
    y_mu = float(rose_tr[1].mean())
    y_sd = float(rose_tr[1].std())

    def prep(d):
        return mx.array((d[0] - mu) / sd), mx.array((d[1] - y_mu) / y_sd)

    stages = [("rosewood", prep(rose_tr), prep(rose_va), rose_tr[1].mean(), rose_va[1]),
              ("mixed_stock", prep(mixed_tr), prep(mixed_va), mixed_tr[1].mean(), mixed_va[1])]

    model = GrindNet()
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, mse_loss)

    # one-off audit: every trainable tensor should receive gradient
    x0, y0 = stages[0][1][0][:64], stages[0][1][1][:64]
    _, g0 = loss_and_grad(model, x0, y0)
    gnorms = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in tree_flatten(g0)}
    emit(event="grad_audit", tensors=len(gnorms),
         min_norm=round(min(gnorms.values()), 6), max_norm=round(max(gnorms.values()), 4))

    batch = 64
    steps_per_stage = 420
    warm = 60
    peak_lr = 1.2e-3
    t0 = time.perf_counter()
    for stage_name, (xtr, ytr), (xva, yva), ref_mean, yva_raw in stages:
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, peak_lr, warm),
             optim.cosine_decay(peak_lr, steps_per_stage - warm, 1e-4)], [warm])
        opt = optim.Lion(learning_rate=sched, weight_decay=0.0)
        ref_mae = float(np.mean(np.abs(yva_raw - ref_mean)))
        best = (float("inf"), None, -1)
        patience, bad = 8, 0
        n = xtr.shape[0]
        for step in range(steps_per_stage):
            idx = mx.array(rng.integers(0, n, batch))
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
            lr_now = float(opt.learning_rate) if step > 0 else 0.0
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % 30 == 0 or step == steps_per_stage - 1:
                pred = model(xva) * y_sd + y_mu
                err = pred - mx.array(yva_raw)
                val_mae = float(mx.mean(mx.abs(err)))
                val_rmse = float(mx.sqrt(mx.mean(err * err)))
                emit(stage=stage_name, step=step, lr=round(lr_now, 7),
                     train_mse_z=round(float(loss), 4), val_mae_s=round(val_mae, 3),
                     val_rmse_s=round(val_rmse, 3), ref_mae_s=round(ref_mae, 3))
                if val_mae < best[0] - 1e-3:
                    snap = tree_map(lambda a: mx.array(a), model.parameters())
                    best, bad = (val_mae, snap, step), 0
                else:
                    bad += 1
                    if bad >= patience:
                        emit(stage=stage_name, event="early_stop", step=step,
                             best_step=best[2])
                        break
        model.update(best[1])
        mx.eval(model.parameters())
        pred = model(xva) * y_sd + y_mu
        restored = float(mx.mean(mx.abs(pred - mx.array(yva_raw))))
        emit(stage=stage_name, event="restore_best", best_step=best[2],
             val_mae_s=round(restored, 3), ref_mae_s=round(ref_mae, 3),
             gain_vs_ref_pct=round(100 * (1 - restored / ref_mae), 1))
    emit(event="done", seconds=round(time.perf_counter() - t0, 2))


if __name__ == "__main__":
    main()
