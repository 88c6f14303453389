"""Fog-harvesting mesh yield model.

Predict daily water yield (litres per m^2 of Raschel mesh per day) for coastal fog
collectors from a week of synthetic station readings.  Written data-parallel with
mx.distributed so the same script can be launched on several hosts; run plainly it
is a group of one and every collective is a pass-through.
"""
import json
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from functools import partial

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s fogmesh: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("fogmesh")

world = mx.distributed.init()
RANK, WORLD = world.rank(), world.size()

mx.random.seed(1234)

# ----------------------------------------------------------------- synthetic stations
N_TRAIN, N_VAL = 6144, 1024
FEATS = ["lwc_g_m3", "wind_m_s", "wind_dir_dev_deg", "rel_hum_pct", "mesh_shade_pct",
         "mesh_age_months", "elevation_m", "inversion_base_m"]


def make_days(n, key):
    k = mx.random.split(key, 9)
    lwc = 0.05 + 0.45 * mx.random.uniform(key=k[0], shape=(n,))          # liquid water content
    wind = 1.0 + 8.0 * mx.random.uniform(key=k[1], shape=(n,))
    wdev = 90.0 * mx.random.uniform(key=k[2], shape=(n,))                # angle off mesh normal
    rh = 80.0 + 20.0 * mx.random.uniform(key=k[3], shape=(n,))
    shade = 35.0 + 40.0 * mx.random.uniform(key=k[4], shape=(n,))
    age = 36.0 * mx.random.uniform(key=k[5], shape=(n,))
    elev = 300.0 + 700.0 * mx.random.uniform(key=k[6], shape=(n,))
    inv = 400.0 + 600.0 * mx.random.uniform(key=k[7], shape=(n,))
    # made-up physics: flux = lwc * wind * cos(angle) * capture efficiency, best near 55% shade,
    # mesh degrades with age, collector must sit near/below the inversion base to be in the cloud
    cosang = mx.cos(wdev * math.pi / 180.0)
    eff = 0.6 * mx.exp(-((shade - 55.0) / 18.0) ** 2) * (1.0 - 0.012 * age)
    incloud = mx.sigmoid((inv - elev + 100.0) / 80.0)
    wet = mx.clip((rh - 85.0) / 15.0, 0.0, 1.0)
    yield_l = 24.0 * lwc * wind * cosang * eff * incloud * (0.4 + 0.6 * wet)
    yield_l = yield_l + 0.25 * mx.random.normal(key=k[8], shape=(n,))
    x = mx.stack([lwc, wind, wdev, rh, shade, age, elev, inv], axis=1)
    return x, mx.maximum(yield_l, 0.0)


x_tr, y_tr = make_days(N_TRAIN, mx.random.key(7))
x_va, y_va = make_days(N_VAL, mx.random.key(8))
mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-6
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd

# each rank keeps its own contiguous shard of the training days
shard = N_TRAIN // WORLD
x_tr = x_tr[RANK * shard:(RANK + 1) * shard]
y_tr = y_tr[RANK * shard:(RANK + 1) * shard]


class MeshYield(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width // 2)
        self.out = nn.Linear(width // 2, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.h1(h))
        h = nn.silu(self.h2(h))
        return nn.softplus(self.out(h)).squeeze(-1)


model = MeshYield(len(FEATS))
mx.eval(model.parameters())

EPOCHS, BATCH = 14, 128
steps_per_epoch = shard // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
# warm-up starts from exactly zero on purpose, then cosine to a floor
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")


# audit: every parameter must receive gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, x_tr[:256], y_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, %d with all-zero grad %s", len(tree_flatten(g0)), len(zero), zero)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    grads = nn.average_gradients(grads)
    opt.update(model, grads)
    return loss


def evaluate(x, y):
    p = model(x)
    err = mx.abs(p - y)
    # sums across ranks, then divide by global count
    s = mx.distributed.all_sum(mx.stack([err.sum(), ((p - y) ** 2).sum(), mx.array(float(y.size))]))
    return s[0] / s[2], mx.sqrt(s[1] / s[2])


clim = float(mx.abs(y_va - y_tr.mean()).mean())   # climatology: always predict the training mean
log.info("rank %d/%d shard=%d steps/epoch=%d clim_mae=%.3f L/m2/d", RANK, WORLD, shard, steps_per_epoch, clim)

t0 = time.time()
it = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.random.permutation(shard)
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss = step(x_tr[idx], y_tr[idx])
        mx.eval(loss, state)
        run += loss.item()
        it += 1
    mae, rmse = evaluate(x_va, y_va)
    mx.eval(mae, rmse)
    if RANK == 0:
        rec = {"epoch": ep, "it": it, "lr": round(float(sched(mx.array(it))), 6),
               "huber": round(run / steps_per_epoch, 4), "val_mae_l": round(mae.item(), 4),
               "val_rmse_l": round(rmse.item(), 4), "clim_mae_l": round(clim, 4),
               "skill_pct": round(100.0 * (1.0 - mae.item() / clim), 1)}
        log.info("epoch %s", json.dumps(rec))

mae, rmse = evaluate(x_va, y_va)
log.info("done in %.1fs  final val MAE %.3f L/m2/d (climatology %.3f), RMSE %.3f",
         time.time() - t0, mae.item(), clim, rmse.item())
