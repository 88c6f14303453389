"""Xylophone bar tuning: predict a bar's pitch error from its geometry.

A workshop cuts rosewood-like bars and wants to know, before final tuning,
how far (in cents) the first mode will sit from 440 Hz.  Features are made-up
but physical-ish: length, thickness, width, undercut depth, wood density and
stiffness.  A fixed random-Fourier-feature layer (frozen on purpose) feeds a
small trainable head.  5-fold cross-validation; every fold restarts its epoch
counter, re-initialises the head, trains with Adamax and early-stops on the
validation cents MAE, restoring the best weights.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s bar-tune | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("bar")

rng = np.random.default_rng(2207)
N = 900
length_cm = rng.uniform(18, 38, N)
thick_cm = rng.uniform(1.2, 2.4, N)
width_cm = rng.uniform(3.5, 5.5, N)
undercut = rng.uniform(0.0, 0.55, N)  # fraction of thickness removed under the middle
density = rng.uniform(750, 1050, N)   # kg/m^3
modulus = rng.uniform(12, 22, N)      # GPa
# free-free beam first mode ~ t / L^2 * sqrt(E / rho), lowered by the undercut arch
freq = 3.56e5 * thick_cm / length_cm ** 2 * np.sqrt(modulus * 1e9 / density) / 1e3
freq *= (1.0 - 0.9 * undercut ** 1.3) * (1 + 0.01 * (width_cm - 4.5))
cents = 1200 * np.log2(freq / 440.0) + rng.normal(0, 6.0, N)

feats = np.stack([length_cm, thick_cm, width_cm, undercut, density, modulus], 1)
feats = (feats - feats.mean(0)) / feats.std(0)
cents_mu, cents_sd = cents.mean(), cents.std()
X = mx.array(feats.astype(np.float32))
Y = mx.array(((cents - cents_mu) / cents_sd).astype(np.float32))


class BarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(6, 96)       # frozen random projection
        self.head = nn.Sequential(nn.Linear(192, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        p = self.rff(x)
        return self.head(mx.concatenate([mx.sin(p), mx.cos(p)], axis=1)).squeeze(1)


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def cents_mae(model, x, y):
    return (mx.mean(mx.abs(model(x) - y)) * cents_sd).item()


mx.random.seed(11)
folds = np.array_split(rng.permutation(N), 5)
summary = []
for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xtr, ytr = X[mx.array(tr_idx)], Y[mx.array(tr_idx)]
    xva, yva = X[mx.array(val_idx)], Y[mx.array(val_idx)]
    mx.random.seed(100 + k)
    model = BarNet()
    model.rff.weight = model.rff.weight * 1.3
    model.rff.freeze()
    rff_before = mx.array(model.rff.weight)
    opt = optim.Adamax(learning_rate=8e-3)
    step_fn = nn.value_and_grad(model, mse)
    if k == 0:
        _, g = step_fn(model, xtr[:64], ytr[:64])
        norms = {n: round(float(mx.linalg.norm(v)), 4) for n, v in tree_flatten(g)}
        log.info("grad check (trainable only): %s", norms)
    naive = float(mx.mean(mx.abs(yva - ytr.mean())) * cents_sd)
    best, best_ep, best_params, wait = math.inf, -1, None, 0
    for epoch in range(1, 81):
        order = mx.array(rng.permutation(len(tr_idx)))
        for s in range(0, len(tr_idx), 48):
            b = order[s:s + 48]
            loss, grads = step_fn(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
        val = cents_mae(model, xva, yva)
        if val < best - 0.25:
            best, best_ep, wait = val, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.trainable_parameters())
        else:
            wait += 1
        if epoch % 10 == 0 or epoch == 1:
            log.info("fold %d/5 epoch %02d  train_mse=%.4f  val_MAE=%.1f cents  (naive %.1f)  patience %d/6",
                     k + 1, epoch, loss.item(), val, naive, wait)
        if wait >= 6:
            log.info("fold %d/5 early stop at epoch %d, restoring epoch %d (%.1f cents)", k + 1, epoch, best_ep, best)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = cents_mae(model, xva, yva)
    drift = float(mx.abs(model.rff.weight - rff_before).max())
    within = float(mx.mean((mx.abs(model(xva) - yva) * cents_sd < 10).astype(mx.float32))) * 100
    log.info("fold %d/5 restored val_MAE=%.2f cents | within 10c: %.1f%% | rff drift %.1e", k + 1, restored,
             within, drift)
    summary.append((k + 1, best_ep, restored, naive, within))

print("\nfold  best_ep  val_cents_MAE  naive_MAE  within10c")
for f, e, m, nv, w in summary:
    print(f"{f:>4}  {e:>7}  {m:>13.2f}  {nv:>9.1f}  {w:>8.1f}%")
arr = np.array([s[2] for s in summary])
print(f"mean  {'':>7}  {arr.mean():>13.2f}  {np.mean([s[3] for s in summary]):>9.1f}  "
      f"{np.mean([s[4] for s in summary]):>8.1f}%   (+/- {arr.std():.2f})")
