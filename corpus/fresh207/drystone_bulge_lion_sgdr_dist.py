"""Dry-stone wall survey: predict winter bulge (mm) of a wall section.

Single-host run through mx.distributed (one process) so the same script can be
launched with mpirun later.  Lion + warm restarts (SGDR), JSON lines log.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2071)


def make_walls(n):
    height = rng.uniform(0.8, 2.2, n)            # m
    batter = rng.uniform(2.0, 12.0, n)           # degrees of lean-back
    through = rng.uniform(0.6, 1.8, n)           # m between through-stones
    shape = rng.uniform(0.0, 1.0, n)             # 1 = flat bedding stones
    frost = rng.poisson(35, n).astype(np.float64)  # frost days
    drain = rng.uniform(0.0, 1.0, n)             # drainage score
    age = rng.uniform(5, 250, n)                 # years since (re)build
    slope = rng.uniform(-15, 15, n)              # ground slope, degrees
    bulge = (
        6.0 * height ** 2
        - 0.9 * batter
        + 9.0 * np.maximum(through - 1.0, 0.0) * height
        - 7.0 * shape
        + 0.22 * frost * (1.2 - drain)
        + 3.0 * np.log1p(age / 40.0)
        + 0.25 * np.abs(slope) * (1.0 - shape)
    )
    bulge = bulge + rng.normal(0.0, 1.2, n)
    X = np.stack([height, batter, through, shape, frost, drain, age, slope], 1)
    return X.astype(np.float32), bulge.astype(np.float32)


Xtr, ytr = make_walls(4000)
Xva, yva = make_walls(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n = mx.array((ytr - ymu) / ysd)
yva_mm = mx.array(yva)

group = mx.distributed.init()
rank, world = group.rank(), group.size()

model = nn.Sequential(
    nn.Linear(8, 64), nn.GELU(),
    nn.Linear(64, 64), nn.GELU(),
    nn.Linear(64, 1),
)
mx.eval(model.parameters())

opt = optim.Lion(learning_rate=3e-4, betas=[0.9, 0.99], weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

cycles = [150, 300, 600]          # SGDR: each restart twice as long
lr_hi, lr_lo = 3e-3, 3e-5
batch = 128
baseline_mae = float(mx.mean(mx.abs(yva_mm - float(ymu))).item())


def valid_mae():
    pred = model(Xva).squeeze(-1) * float(ysd) + float(ymu)
    return float(mx.mean(mx.abs(pred - yva_mm)).item())


t0 = time.time()
perm = np.arange(Xtr.shape[0])
ptr = len(perm)
gstep = 0
for c, length in enumerate(cycles):
    for s in range(length):
        opt.learning_rate = lr_lo + 0.5 * (lr_hi - lr_lo) * (1 + math.cos(math.pi * s / length))
        if ptr + batch > len(perm):
            rng.shuffle(perm)
            ptr = 0
        idx = mx.array(perm[ptr:ptr + batch])
        ptr += batch
        loss, grads = grad_fn(model, Xtr[idx], ytr_n[idx])
        grads = nn.utils.average_gradients(grads, group=group)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        gstep += 1
        if s % 25 == 0 or s == length - 1:
            tl = mx.distributed.all_sum(loss, group=group).item() / world
            rec = {
                "cycle": c,
                "step": s,
                "lr": round(float(opt.learning_rate.item()), 6),
                "train_mse_z": round(tl, 4),
                "valid_mae_mm": round(valid_mae(), 3),
                "ref_mean_mae_mm": round(baseline_mae, 3),
            }
            if rank == 0:
                print(json.dumps(rec), flush=True)
    if rank == 0:
        print(json.dumps({"event": "cycle_end", "cycle": c, "global_step": gstep,
                          "valid_mae_mm": round(valid_mae(), 3)}), flush=True)

if rank == 0:
    final = valid_mae()
    print(json.dumps({"event": "done", "world": world, "steps": gstep,
                      "valid_mae_mm": round(final, 3),
                      "ref_mean_mae_mm": round(baseline_mae, 3),
                      "skill_pct": round(100 * (1 - final / baseline_mae), 1),
                      "seconds": round(time.time() - t0, 1)}), flush=True)
