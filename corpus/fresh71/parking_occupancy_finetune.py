"""Car-park occupancy: adapt a city-wide model to one new garage.

Stage 1 (silent): fit an occupancy model on 40k synthetic garage-hours pooled
over the city. Stage 2: the new garage behaves almost like the city average
(a slightly later evening peak), so we freeze the feature trunk and only
fine-tune the output head with plain SGD at a small learning rate. The
fine-tune starts close to its noise floor; progress is printed as JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)


def occupancy(hour, dow, rain, event, shift=0.0):
    weekday = (dow < 5).astype(np.float32)
    commute = weekday * 0.55 * np.exp(-((hour - 10.0) ** 2) / 8.0)
    evening = 0.35 * np.exp(-((hour - (19.0 + shift)) ** 2) / 4.0)
    weekend = (1 - weekday) * 0.45 * np.exp(-((hour - 14.0) ** 2) / 10.0)
    occ = 0.08 + commute + evening + weekend + 0.12 * rain + 0.25 * event
    return np.clip(occ, 0.0, 1.0)


def make(n, shift=0.0):
    hour = rng.uniform(0, 24, n)
    dow = rng.integers(0, 7, n)
    rain = (rng.random(n) < 0.25).astype(np.float32)
    event = (rng.random(n) < 0.08).astype(np.float32)
    y = occupancy(hour, dow, rain, event, shift) + rng.normal(0, 0.04, n)
    a, d = 2 * np.pi * hour / 24, 2 * np.pi * dow / 7
    x = np.stack([np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a), np.sin(d), np.cos(d),
                  (dow >= 5).astype(np.float32), rain, event], 1).astype(np.float32)
    return mx.array(x), mx.array(y.astype(np.float32))


class OccNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(9, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Sequential(nn.Linear(64, 16), nn.GELU(), nn.Linear(16, 1))

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def batches(x, y, bs):
    perm = mx.array(rng.permutation(x.shape[0]))
    for i in range(0, x.shape[0] - bs + 1, bs):
        j = perm[i:i + bs]
        yield x[j], y[j]


t0 = time.time()
model = OccNet()
# ---- stage 1: city-wide pretraining, no output on purpose -------------------
cx, cy = make(40000)
pre_opt = optim.Adam(learning_rate=2e-3)
pre_step = nn.value_and_grad(model, mse)
for epoch in range(8):
    for xb, yb in batches(cx, cy, 128):
        loss, g = pre_step(model, xb, yb)
        pre_opt.update(model, g)
        mx.eval(model.parameters(), pre_opt.state, loss)
city_mse = mse(model, *make(4000)).item()
pre_secs = time.time() - t0

# ---- stage 2: fine-tune the head on the new garage -------------------------
gx, gy = make(1500, shift=0.7)
vx, vy = make(3000, shift=0.7)
model.trunk.freeze()
trunk_before = [np.array(v) for _, v in tree_flatten(model.trunk.parameters())]
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
step = nn.value_and_grad(model, mse)
floor = 0.04 ** 2


def report(**kw):
    kw["t"] = round(time.time() - t0, 2)
    print(json.dumps(kw), flush=True)


report(event="pretrained", city_mse=round(city_mse, 6), noise_floor_mse=floor,
       pretrain_seconds=round(pre_secs, 2))
report(event="garage_before", val_mse=round(mse(model, vx, vy).item(), 6),
       val_mae_pct=round(100 * mx.mean(mx.abs(model(vx) - vy)).item(), 3))
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
first = True
for epoch in range(1, 31):
    run, nb = 0.0, 0
    for xb, yb in batches(gx, gy, 50):
        loss, g = step(model, xb, yb)
        if first:
            leaves = tree_flatten(g)
            report(event="grad_check", trainable=n_tr, total=n_all, leaves=len(leaves),
                   zero_leaves=sum(int(mx.all(v == 0).item()) for _, v in leaves),
                   loss=round(loss.item(), 6))
            first = False
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        nb += 1
    if epoch % 3 == 0 or epoch == 1:
        pv = model(vx)
        report(event="epoch", epoch=epoch, train_mse=round(run / nb, 6),
               val_mse=round(nn.losses.mse_loss(pv, vy).item(), 6),
               val_mae_pct=round(100 * mx.mean(mx.abs(pv - vy)).item(), 3))
drift = max(float(np.abs(np.array(v) - b).max())
            for (_, v), b in zip(tree_flatten(model.trunk.parameters()), trunk_before))
report(event="done", trunk_max_abs_change=drift, val_mse=round(mse(model, vx, vy).item(), 6))
