"""Brass orrery workshop: predict yearly angular drift (arcmin) of each planet arm
from gear-train measurements. Random Fourier features are a fixed (frozen) basis;
only the MLP head learns. Two-stage curriculum: inner planets first, then the
whole train including the outer arms (noisier, longer trains)."""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_arms(n, outer):
    # planet period in years (log-uniform); inner stage keeps Mercury..Earth-ish arms
    lo, hi = (0.2, 1.0) if not outer else (0.2, 30.0)
    period = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    ratio_err = rng.normal(0, 1.0, n)          # ppm error of the gear ratio
    teeth = rng.integers(24, 120, n) / 100.0   # driven wheel tooth count / 100
    backlash = rng.gamma(2.0, 0.15, n)         # degrees of slack in the mesh
    oil_age = rng.uniform(0, 5, n)             # years since oiling
    temp = rng.normal(20, 4, n)                # workshop temperature C
    crank = rng.uniform(0.5, 2.0, n)           # crank turns per minute
    logp = np.log(period)
    drift = (3.0 * ratio_err * np.sqrt(period)
             + 2.0 * backlash * (1 + 0.3 * oil_age)
             - 1.5 * np.sin(teeth * 6.0)
             + 0.08 * (temp - 20) * logp
             + 0.6 * crank * np.tanh(logp))
    noise = 0.3 if not outer else 0.3 + 0.25 * np.clip(logp, 0, None)
    drift = drift + rng.normal(0, 1, n) * noise
    X = np.stack([logp, ratio_err, teeth, backlash, oil_age, (temp - 20) / 4, crank], 1)
    return mx.array(X.astype(np.float32)), mx.array(drift.astype(np.float32))


class OrreryNet(nn.Module):
    def __init__(self, d_in=7, n_feat=96, hidden=64):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)   # fixed random basis, frozen below
        self.head = nn.Sequential(nn.Linear(2 * n_feat, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 1))

    def __call__(self, x):
        z = self.rff(x)
        return self.head(mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = OrreryNet()
model.rff.freeze()
mx.eval(model.parameters())
rff_before = np.array(model.rff.weight)

stages = [("inner", False, 500), ("full_train", True, 700)]
total = sum(s[2] for s in stages)
warm = 150
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, warm), optim.cosine_decay(3e-4, total - warm, 1e-5)],
    [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)

vg = nn.value_and_grad(model, mse)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss


# gradient sanity check: every trainable leaf gets signal, frozen basis gets none
xc, yc = make_arms(64, True)
_, g0 = vg(model, xc, yc)
from mlx.utils import tree_flatten
gnorms = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_check", "trainable_leaves": len(gnorms),
                  "zero_leaves": [k for k, v in gnorms.items() if v == 0.0],
                  "frozen": [k for k, _ in tree_flatten(model.rff.parameters())]}))

t0 = time.time()
gstep = 0
for name, outer, iters in stages:
    Xtr, ytr = make_arms(4096, outer)
    Xva, yva = make_arms(1024, outer)
    ref = float(mx.sqrt(mx.mean((yva - ytr.mean()) ** 2)))  # predict-the-mean reference
    for it in range(iters):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        gstep += 1
        if it % 100 == 0 or it == iters - 1:
            rmse = float(mx.sqrt(mse(model, Xva, yva)))
            print(json.dumps({"stage": name, "it": it, "global": gstep,
                              "lr": round(float(opt.learning_rate), 7),
                              "batch_mse": round(float(loss), 4),
                              "val_rmse_arcmin": round(rmse, 4),
                              "ref_rmse_arcmin": round(ref, 4)}))

drift_rff = float(np.abs(np.array(model.rff.weight) - rff_before).max())
print(json.dumps({"event": "done", "steps": gstep, "secs": round(time.time() - t0, 2),
                  "rff_max_change": drift_rff}))
