"""Funicular railway: haul-cable tension (kN) from the car's operating log.

Phase 1 is a learning-rate range test on the initial weights (the loss blows up
at the end of the sweep on purpose). The initial weights are written to a temp
file first and read back before the real run, so phase 2 starts from the very
same fresh weights with a fresh optimizer.  Every report is one JSON line.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_logs(n):
    load = rng.uniform(0, 120, n)          # passengers
    grade = rng.uniform(8, 42, n)          # percent slope at the car position
    speed = rng.uniform(1, 10, n)          # m/s
    temp = rng.uniform(-10, 32, n)         # deg C
    pos = rng.uniform(0, 1, n)             # fraction of the line travelled
    accel = rng.normal(0, 0.15, n)         # m/s^2
    mass = 9.0 + 0.075 * load              # tonnes
    theta = np.arctan(grade / 100)
    tension = (mass * 9.81 * (np.sin(theta) + 0.012 * np.cos(theta))
               + mass * accel + 0.04 * speed ** 2
               + 14.0 * (1 - pos) * (1 + 0.002 * (20 - temp)))
    tension = tension * np.exp(rng.normal(0, 0.02, n))
    X = np.stack([load, grade, speed, temp, pos, accel], 1).astype(np.float32)
    return X, tension.astype(np.float32)


Xtr, ytr = make_logs(9000)
Xva, yva = make_logs(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_m = mx.array((yva - ymu) / ysd)


class TensionNet(nn.Module):
    def __init__(self, d_in=6, width=128):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def emit(**rec):
    print(json.dumps(rec), flush=True)


mx.random.seed(3)
model = TensionNet()
mx.eval(model.parameters())
tmpdir = tempfile.mkdtemp(prefix="funicular_")
init_path = os.path.join(tmpdir, "init.safetensors")
model.save_weights(init_path)
emit(event="data", train=len(ytr), valid=len(yva), tension_kN_mean=round(float(ymu), 2),
     tension_kN_sd=round(float(ysd), 2))

step_grad = nn.value_and_grad(model, loss_fn)
BATCH = 64

# ---------------- phase 1: learning-rate range test ----------------
lr_lo, lr_hi, n_sweep = 1e-5, 5.0, 200
sweep_opt = optim.RMSprop(learning_rate=lr_lo)
smooth, beta, best, best_lr = 0.0, 0.9, float("inf"), lr_lo
for i in range(n_sweep):
    lr = lr_lo * (lr_hi / lr_lo) ** (i / (n_sweep - 1))
    sweep_opt.learning_rate = lr
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    loss, grads = step_grad(model, Xtr_m[idx], ytr_m[idx])
    sweep_opt.update(model, grads)
    mx.eval(model.parameters(), sweep_opt.state, loss)
    lv = loss.item()
    smooth = beta * smooth + (1 - beta) * lv
    sm = smooth / (1 - beta ** (i + 1))
    if sm < best:
        best, best_lr = sm, lr
    if i % 25 == 0:
        emit(event="sweep", step=i, lr=float(f"{lr:.3g}"), smoothed_mse=round(sm, 4))
    if not math.isfinite(sm) or sm > 6 * best:
        emit(event="sweep_stop", step=i, lr=float(f"{lr:.3g}"), smoothed_mse=round(sm, 4) if math.isfinite(sm) else str(sm),
             reason="loss above 6x its minimum")
        break
peak = best_lr / 10
emit(event="sweep_result", lr_at_min=float(f"{best_lr:.3g}"), min_smoothed_mse=round(best, 4),
     chosen_peak_lr=float(f"{peak:.3g}"))

# ---------------- phase 2: real run from the saved initial weights ----------------
model.load_weights(init_path)
mx.eval(model.parameters())
EPOCHS = 24
steps_per_epoch = len(ytr) // BATCH
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch * 2
sched = optim.join_schedules(
    [optim.linear_schedule(peak / 20, peak, warm),
     optim.linear_schedule(peak, peak / 50, total - warm)], [warm])
opt = optim.RMSprop(learning_rate=sched)

loss0, g0 = step_grad(model, Xtr_m[:BATCH], ytr_m[:BATCH])
leaves = tree_flatten(g0)
nonzero = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
emit(event="grad_check", nonzero_leaves=nonzero, leaves=len(leaves),
     start_mse=round(loss0.item(), 4))


def rmse_kN(Xm, y):
    pred = np.array(model(Xm)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - y) ** 2)))


emit(event="epoch", epoch=0, valid_rmse_kN=round(rmse_kN(Xva_m, yva), 3))
for ep in range(1, EPOCHS + 1):
    t0 = time.perf_counter()
    perm = rng.permutation(len(ytr))
    tot, cnt = 0.0, 0
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        loss, grads = step_grad(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        cnt += 1
    emit(event="epoch", epoch=ep, train_mse_std=round(tot / cnt, 5),
         valid_rmse_kN=round(rmse_kN(Xva_m, yva), 3),
         lr=float(f"{opt.learning_rate.item():.3g}"), secs=round(time.perf_counter() - t0, 2))

emit(event="done", valid_rmse_kN=round(rmse_kN(Xva_m, yva), 3),
     predict_mean_rmse_kN=round(float(np.std(yva)), 3))
