# Gravimetric pipette calibration bench: predict the dispensing error (uL)
# of an air-displacement pipette from the bench log, 4-fold cross-validation,
# compiled train step, early stopping with restore of the best weights.
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s bench: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("bench")

rng = np.random.default_rng(2024)
N = 4800
set_vol = rng.uniform(10, 1000, N)              # uL
viscosity = rng.lognormal(0.0, 0.6, N)         # cP
temp = rng.normal(22, 2.5, N)                   # deg C
angle = rng.uniform(0, 30, N)                   # deg from vertical
speed = rng.uniform(0.5, 3.0, N)                # plunger speed, arbitrary
prewet = (rng.random(N) < 0.5).astype(np.float64)
tip_fit = rng.normal(0, 1, N)
err = (-0.012 * set_vol * np.log1p(viscosity) * (1 + 0.3 * speed)
       + 0.04 * (temp - 20) * np.sqrt(set_vol)
       - 0.02 * angle ** 1.5 * (1 - 0.5 * prewet)
       + 1.5 * np.tanh(tip_fit) + rng.normal(0, 0.8, N))
X = np.stack([np.log(set_vol), viscosity, temp, angle, speed, prewet, tip_fit], 1).astype(np.float32)
y = err.astype(np.float32)


class ErrNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def huber(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=2.0, reduction="mean")


folds = np.array_split(rng.permutation(N), 4)
summary = []
t0 = time.time()
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    ym, ys = y[tr_idx].mean(), y[tr_idx].std()
    Xtr, Xva = mx.array((X[tr_idx] - mu) / sd), mx.array((X[va_idx] - mu) / sd)
    ytr, yva = mx.array((y[tr_idx] - ym) / ys), y[va_idx]

    mx.random.seed(100 + k)
    model = ErrNet()
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    mx.eval(model.parameters())
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, huber)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = vg(model, xb, yb)
        opt.update(model, g)
        return loss

    base_mae = float(np.mean(np.abs(yva - ym)))
    best, best_w, bad, patience = float("inf"), None, 0, 6
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        run = 0.0
        nb = len(tr_idx) // 96
        for b in range(nb):
            ib = perm[b * 96:(b + 1) * 96]
            l = step(Xtr[ib], ytr[ib])
            mx.eval(state, l)
            run += l.item()
        pred = np.array(model(Xva)) * ys + ym
        mae = float(np.mean(np.abs(pred - yva)))
        r2 = 100.0 * (1 - np.sum((pred - yva) ** 2) / np.sum((yva - yva.mean()) ** 2))
        if epoch % 5 == 0 or epoch == 1:
            log.info("fold %d/4 epoch %2d huber %.4f | val MAE %.3f uL (mean-predictor %.3f uL) R2 %.1f%%",
                     k + 1, epoch, run / nb, mae, base_mae, r2)
        if mae < best - 1e-3:
            best, bad = mae, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            best_r2, best_ep = r2, epoch
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d/4 early stop at epoch %d (no gain for %d epochs)", k + 1, epoch, patience)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(model(Xva)) * ys + ym
    restored = float(np.mean(np.abs(pred - yva)))
    gn = vg(model, Xtr[:512], ytr[:512])[1]
    min_g = min(float(mx.linalg.norm(v.reshape(-1)).item()) for _, v in tree_flatten(gn))
    log.info("fold %d/4 restored epoch %d: val MAE %.3f uL (check diff %.2e) R2 %.1f%% min grad norm %.3e",
             k + 1, best_ep, restored, abs(restored - best), best_r2, min_g)
    summary.append((best, base_mae, best_r2))

log.warning("CV summary over 4 folds: MAE %.3f +- %.3f uL vs mean-predictor %.3f uL, R2 %.1f%% (%.1f s)",
            np.mean([s[0] for s in summary]), np.std([s[0] for s in summary]),
            np.mean([s[1] for s in summary]), np.mean([s[2] for s in summary]), time.time() - t0)
