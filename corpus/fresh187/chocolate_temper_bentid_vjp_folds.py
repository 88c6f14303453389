"""Chocolate tempering bench: predict the bar's snap force (N) from the tempering log.

4-fold cross-validation, SGD with Nesterov momentum, a hand-written VJP for the
bent-identity activation, early stopping per fold with the best weights restored.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s temper: %(message)s")
log = logging.getLogger("temper")

rng = np.random.default_rng(2024)
N = 2000
melt = rng.uniform(44, 52, N)          # deg C
cool = rng.uniform(25.5, 28.5, N)      # deg C
rework = rng.uniform(30.0, 33.0, N)    # deg C
hold = rng.uniform(2, 20, N)           # minutes at rework
butter = rng.uniform(30, 40, N)        # cocoa butter %
seed = rng.uniform(0, 4, N)            # seed chocolate %
humid = rng.uniform(30, 80, N)         # room RH %
form_v = (np.exp(-((rework - 31.6) / 0.6) ** 2) * (1 / (1 + np.exp(-(hold - 6) / 2)))
          * np.exp(-((cool - 27.0) / 1.0) ** 2) + 0.08 * seed)
snap = (4.0 + 9.0 * form_v + 0.12 * (butter - 35) - 0.025 * (humid - 50)
        - 0.05 * np.maximum(melt - 50, 0) + 0.35 * rng.standard_normal(N))
X = np.stack([melt, cool, rework, hold, butter, seed, humid], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = snap.astype(np.float32)


@mx.custom_function
def bent_identity(x):
    return (mx.sqrt(x * x + 1.0) - 1.0) / 2.0 + x


@bent_identity.vjp
def bent_identity_vjp(x, cotangent, output):
    return cotangent * (x / (2.0 * mx.sqrt(x * x + 1.0)) + 1.0)


class SnapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(bent_identity(self.l2(bent_identity(self.l1(x))))).squeeze(-1)


# audit the hand-written VJP against autodiff of the same formula
xa = mx.linspace(-4, 4, 101)
g_custom = mx.grad(lambda v: bent_identity(v).sum())(xa)
g_auto = mx.grad(lambda v: ((mx.sqrt(v * v + 1.0) - 1.0) / 2.0 + v).sum())(xa)
log.info("vjp audit: max |custom - autodiff| = %.2e over %d points", mx.abs(g_custom - g_auto).max().item(), xa.size)


def mse(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


folds = np.array_split(rng.permutation(N), 4)
maes = []
for f in range(4):
    va = folds[f]
    tr = np.concatenate([folds[j] for j in range(4) if j != f])
    Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
    base_mae = float(np.abs(y[va] - y[tr].mean()).mean())
    mx.random.seed(f)
    model = SnapNet()
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, mse)
    if f == 0:
        _, g = vg(model, Xtr[:256], ytr[:256])
        norms = {k: mx.linalg.norm(v.reshape(-1)).item() for k, v in tree_flatten(g)}
        log.info("grad norms at init: %s", ", ".join(f"{k}={v:.3g}" for k, v in norms.items()))
    best, best_ep, best_params, wait = float("inf"), 0, None, 0
    for ep in range(1, 121):
        perm = mx.array(rng.permutation(len(tr)))
        run = 0.0
        nb = len(tr) // 50
        for b in range(nb):
            idx = perm[b * 50:(b + 1) * 50]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        vmae = mx.abs(model(Xva) - yva).mean().item()
        if vmae < best - 1e-4:
            best, best_ep, wait = vmae, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        if ep % 10 == 0 or wait == 0 and ep <= 3:
            log.info("fold %d/4 epoch %3d  train_mse %.4f  val_mae %.3f N  (mean-predictor %.3f N)", f + 1, ep, run / nb, vmae, base_mae)
        if wait >= 12:
            log.info("fold %d/4 stop at epoch %d: no gain for 12 epochs, best epoch %d", f + 1, ep, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = mx.abs(model(Xva) - yva).mean().item()
    log.info("fold %d/4 restored best: val_mae %.3f N (recorded %.3f, diff %.1e)", f + 1, restored, best, abs(restored - best))
    maes.append(restored)
log.info("cv summary: val_mae per fold %s -> mean %.3f N; noise floor ~%.3f N", [round(m, 3) for m in maes], float(np.mean(maes)), 0.35 * math.sqrt(2 / math.pi))
