"""Astrolabe rete calibration: learn a star's altitude (degrees) from observer latitude,
star declination and hour angle. 3-fold cross-validation; each fold trains with a compiled
RMSprop step, early-stops on held-out error (patience) and restores its best weights."""
import logging
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s astrolabe: %(message)s")
log = logging.getLogger("astrolabe")

random.seed(11)
rows = []
for _ in range(2400):
    lat = random.uniform(-60, 60)
    dec = random.uniform(-30, 30)
    ha = random.uniform(-180, 180)
    r = math.radians
    s = math.sin(r(lat)) * math.sin(r(dec)) + math.cos(r(lat)) * math.cos(r(dec)) * math.cos(r(ha))
    alt = math.degrees(math.asin(max(-1.0, min(1.0, s))))
    feats = [lat / 60, dec / 30, math.sin(r(ha)), math.cos(r(ha))]
    rows.append((feats, alt / 90.0))
X_all = mx.array([f for f, _ in rows])
Y_all = mx.array([[a] for _, a in rows])
N = X_all.shape[0]
K = 3


class Rete(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


fold_err = []
t0 = time.time()
for fold in range(K):
    mx.random.seed(100 + fold)
    lo, hi = fold * N // K, (fold + 1) * N // K
    idx_val = mx.arange(lo, hi)
    idx_tr = mx.concatenate([mx.arange(0, lo), mx.arange(hi, N)])
    Xtr, Ytr, Xva, Yva = X_all[idx_tr], Y_all[idx_tr], X_all[idx_val], Y_all[idx_val]
    baseline_arcmin = (mx.abs(Yva - Ytr.mean()).mean() * 90 * 60).item()

    model = Rete()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=2e-3)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, mse)(model, x, y)
        opt.update(model, g)
        return loss

    if fold == 0:
        _, g = nn.value_and_grad(model, mse)(model, Xtr[:128], Ytr[:128])
        nz = sum(1 for _, v in tree_flatten(g) if mx.abs(v).max().item() > 0)
        log.info("gradient audit: %d/%d tensors non-zero", nz, len(tree_flatten(g)))

    best, best_epoch, best_params, patience, bad = float("inf"), -1, None, 6, 0
    for epoch in range(1, 200):
        perm = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for b in range(0, Xtr.shape[0], 64):
            ids = perm[b:b + 64]
            loss = step(Xtr[ids], Ytr[ids])
            mx.eval(state, loss)
            tot += loss.item() * ids.shape[0]
        err_arcmin = (mx.abs(model(Xva) - Yva).mean() * 90 * 60).item()
        if epoch % 5 == 0 or epoch == 1:
            log.info("fold %d/%d epoch %3d  mse %.5f  val |err| %.1f arcmin (mean-predictor %.1f arcmin)",
                     fold + 1, K, epoch, tot / Xtr.shape[0], err_arcmin, baseline_arcmin)
        if err_arcmin < best - 0.5:
            best, best_epoch, bad = err_arcmin, epoch, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= patience:
                log.warning("fold %d: no improvement for %d epochs at epoch %d, restoring epoch %d",
                            fold + 1, patience, epoch, best_epoch)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = (mx.abs(model(Xva) - Yva).mean() * 90 * 60).item()
    log.info("fold %d done: best epoch %d, restored val |err| %.1f arcmin = %.2f deg",
             fold + 1, best_epoch, restored, restored / 60)
    fold_err.append(restored)

mean = sum(fold_err) / K
log.info("cross-validated altitude error %.1f arcmin (folds: %s) in %.1fs",
         mean, ", ".join(f"{e:.1f}" for e in fold_err), time.time() - t0)
