"""Ship's gyrocompass: residual settling error (arc-minutes) after start-up.

Features per start-up (synthetic): latitude, ship speed, heading sin/cos,
rotor warm-up minutes, ambient temperature, roll amplitude.  Made-up law with a
latitude secant term, speed/heading (northsteaming) error and a roll wobble.

Model: a frozen random-Fourier feature layer (fixed on purpose, never trained)
feeding a trainable 2-layer head.  5-fold cross-validation: each fold starts
from fresh weights, warms its learning rate up from exactly 0, and stops early
on the held-out fold, restoring its best weights before the fold score is taken.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s gyro %(message)s")
log = logging.getLogger()

rng = np.random.default_rng(21804)
N = 1500
lat = rng.uniform(-70, 70, N)
speed = rng.uniform(0, 24, N)
head = rng.uniform(0, 2 * np.pi, N)
warm = rng.uniform(5, 90, N)
temp = rng.uniform(-10, 40, N)
roll = rng.exponential(6.0, N)
lat_r = np.radians(lat)
err = (
    0.9 * speed * np.cos(head) / (5 * np.cos(lat_r) + 0.5)
    + 25 * np.exp(-warm / 25)
    + 0.04 * (temp - 15) ** 2 / 10
    + 0.6 * roll * np.sin(2 * head)
    + 1.5 / np.cos(lat_r)
    + rng.normal(0, 0.8, N)
)
X = np.stack([lat / 70, speed / 24, np.sin(head), np.cos(head), warm / 90,
              (temp - 15) / 25, roll / 10], axis=1).astype(np.float32)
y = err.astype(np.float32)[:, None]
y_mu, y_sd = float(y.mean()), float(y.std())
yn = (y - y_mu) / y_sd


class RFFHead(nn.Module):
    def __init__(self, d_in, n_feat=128):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)  # frozen on purpose
        self.rff.weight = mx.random.normal((n_feat, d_in)) * 1.3
        self.rff.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.rff.freeze()
        self.h1 = nn.Linear(n_feat, 48)
        self.h2 = nn.Linear(48, 1)

    def __call__(self, x):
        f = mx.cos(self.rff(x)) * math.sqrt(2.0 / 128)
        return self.h2(nn.silu(self.h1(f * 4.0)))


def loss_fn(m, xb, yb):
    return mx.mean(mx.square(m(xb) - yb))


folds = np.array_split(rng.permutation(N), 5)
scores = []
for k, va_idx in enumerate(folds):
    tr_idx = np.setdiff1d(np.arange(N), va_idx)
    Xtr, Ytr = mx.array(X[tr_idx]), mx.array(yn[tr_idx])
    Xva, Yva = mx.array(X[va_idx]), mx.array(yn[va_idx])
    mx.random.seed(100 + k)
    model = RFFHead(7)
    mx.eval(model.parameters())
    frozen_before = np.array(model.rff.weight)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, 60), optim.cosine_decay(0.05, 1500, 0.002)], [60])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 0:
        _, g0 = vg(model, Xtr[:64], Ytr[:64])
        names = [n for n, _ in tree_flatten(g0)]
        zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max().item()) == 0.0]
        log.info("trainable tensors %s ; zero-grad tensors %s", names, zero or "none")
    best, best_ep, best_params, patience = float("inf"), -1, None, 0
    ntr = Xtr.shape[0]
    for ep in range(1, 121):
        perm = mx.array(rng.permutation(ntr))
        for b in range(0, ntr, 100):
            idx = perm[b:b + 100]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        va = loss_fn(model, Xva, Yva).item()
        if ep == 1 or ep % 15 == 0:
            log.info("fold=%d ep=%03d lr=%.4f train=%.4f heldout=%.4f best=%.4f",
                     k + 1, ep, opt.learning_rate.item(), loss.item(), va, min(best, va))
        if va < best - 1e-4:
            best, best_ep, patience = va, ep, 0
            best_params = {n: mx.array(p) for n, p in tree_flatten(model.trainable_parameters())}
        else:
            patience += 1
            if patience >= 12:
                log.info("fold=%d early stop at ep=%d, restoring ep=%d", k + 1, ep, best_ep)
                break
    model.load_weights(list(best_params.items()), strict=False)
    mx.eval(model.parameters())
    pred = np.array(model(Xva)) * y_sd + y_mu
    yt = y[va_idx]
    mae = float(np.mean(np.abs(pred - yt)))
    r2 = 100.0 * (1 - np.sum((pred - yt) ** 2) / np.sum((yt - yt.mean()) ** 2))
    base_mae = float(np.mean(np.abs(yt - y[tr_idx].mean())))
    drift = float(np.abs(np.array(model.rff.weight) - frozen_before).max())
    scores.append((mae, r2))
    log.info("fold=%d restored: MAE %.2f arcmin (mean-predictor %.2f)  R2 %.1f%%  rff drift %.1e",
             k + 1, mae, base_mae, r2, drift)

m = np.array(scores)
print(f"CV summary: MAE {m[:,0].mean():.2f} +/- {m[:,0].std():.2f} arcmin, R2 {m[:,1].mean():.1f}%")
