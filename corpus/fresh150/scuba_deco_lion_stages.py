"""Dive-computer bench: learn total decompression-stop time (minutes) from a dive profile.

Synthetic dives from a made-up tissue-loading law. Stage "recreational" trains on shallow
no-/short-deco dives only; stage "technical" then adds deep, long dives (targets several times
larger, so the loss jumps when the stage starts). Each stage warms the learning rate up from 0.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s deco: %(message)s")
log = logging.getLogger("deco")

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_dives(n, deep):
    depth = rng.uniform(12, 30, n) if not deep else rng.uniform(30, 60, n)       # m
    bottom = rng.uniform(10, 45, n) if not deep else rng.uniform(20, 60, n)      # min
    o2 = rng.uniform(0.21, 0.36, n)                                              # nitrox fraction
    ascent = rng.uniform(6, 12, n)                                               # m/min
    water_c = rng.uniform(8, 28, n)
    repet = rng.integers(0, 3, n).astype(np.float64)                              # earlier dives today
    amb = 1.0 + depth / 10.0
    load = amb * (1.0 - o2) * (1.0 - np.exp(-bottom / 25.0)) / 0.79               # tissue pressure proxy
    excess = np.maximum(load - 1.9, 0.0)
    stop_min = 11.0 * excess ** 1.5 + 1.5 * repet * excess + 0.08 * np.maximum(20 - water_c, 0) * excess \
        - 0.15 * (ascent - 9) * excess + 3.0  # 3 min safety stop always
    stop_min = stop_min + rng.normal(0, 0.6, n)
    x = np.stack([depth / 60, bottom / 60, o2 * 3, ascent / 12, water_c / 30, repet / 2], 1)
    return mx.array(x.astype(np.float32)), mx.array(stop_min.astype(np.float32))


class DecoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


SCALE = 10.0  # network works in units of 10 minutes


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y / SCALE, delta=1.0, reduction="mean")


rec_x, rec_y = make_dives(1500, deep=False)
tec_x, tec_y = make_dives(1500, deep=True)
val_rx, val_ry = make_dives(300, deep=False)
val_tx, val_ty = make_dives(300, deep=True)

model = DecoNet()
mx.eval(model.parameters())

# audit: every weight gets a gradient on one batch
_, g0 = nn.value_and_grad(model, loss_fn)(model, tec_x[:64], tec_y[:64])
from mlx.utils import tree_flatten
gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
log.info("grad audit: %d tensors, %d with zero |g| sum, min |g| sum %.3e",
         len(gn), sum(1 for v in gn.values() if v == 0.0), min(gn.values()))

opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
state = [model.state, opt.state]
vg = nn.value_and_grad(model, loss_fn)


def step(x, y):
    l, g = vg(model, x, y)
    opt.update(model, g)
    return l


step = mx.compile(step, inputs=state, outputs=state)


def mae(x, y):
    return float(mx.mean(mx.abs(SCALE * model(x) - y)))


stages = [("recreational", rec_x, rec_y, 600, 1e-3), ("technical", mx.concatenate([rec_x, tec_x]),
                                                       mx.concatenate([rec_y, tec_y]), 1500, 1e-3)]
base_rec = float(mx.mean(mx.abs(val_ry - mx.mean(rec_y))))
t0 = time.time()
for name, X, Y, iters, peak in stages:
    n = X.shape[0]
    base_all = float(mx.mean(mx.abs(mx.concatenate([val_ry, val_ty]) - mx.mean(Y))))
    log.info("stage=%s dives=%d iters=%d peak_lr=%.0e | mean-predictor MAE rec=%.2f min all=%.2f min",
             name, n, iters, peak, base_rec, base_all)
    warm = 100
    for it in range(iters):
        opt.learning_rate = peak * min(it / warm, 1.0) * (0.5 * (1 + math.cos(math.pi * max(it - warm, 0) / (iters - warm))) * 0.9 + 0.1)
        idx = mx.array(rng.integers(0, n, 128))
        l = step(X[idx], Y[idx])
        mx.eval(l, state)
        if it % 150 == 0 or it == iters - 1:
            log.info("stage=%s it=%4d lr=%.2e huber=%.3f val_mae_rec=%.2f min val_mae_tec=%.2f min",
                     name, it, opt.learning_rate.item(), l.item(), mae(val_rx, val_ry), mae(val_tx, val_ty))

log.info("done in %.1fs: final MAE rec %.2f min (baseline %.2f), tec %.2f min; table deep dive 50 m/40 min EAN28 -> %.1f min",
         time.time() - t0, mae(val_rx, val_ry), base_rec, mae(val_tx, val_ty),
         float(SCALE * model(mx.array([[50 / 60, 40 / 60, 0.84, 0.75, 0.5, 0.0]]))[0]))
