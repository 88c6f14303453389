"""Brass workshop: tuba valve-combination intonation, 4-fold CV.

Regress the tuning offset (cents) of a played note from 7 bench readings:
valve combination bits (1, 2, 3, 4), main-slide pull (mm), bore temperature
(deg C) and partial number.  Made-up acoustics: valve combos are sharp when
stacked (the classic compensation problem), the slide flattens, warm air
sharpens, high partials drift.  SGD with Nesterov momentum, learning rate
warmed up linearly from exactly 0, early stopping per fold with the best
weights restored before scoring.  Progress goes through `logging`.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tuba: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tuba")

rng = np.random.default_rng(1420)
N = 2400
valves = rng.integers(0, 2, (N, 4)).astype(np.float64)
slide = rng.uniform(0, 12, N)
temp = rng.uniform(12, 34, N)
partial = rng.integers(2, 9, N).astype(np.float64)
n_down = valves.sum(1)
cents = (6.0 * n_down ** 1.6 - 4.5 * valves[:, 3] * n_down
         - 1.9 * slide + 0.9 * (temp - 22.0)
         + 3.0 * np.sin(partial * 1.3) + 1.2 * (partial == 5) * 14.0 / 5.0
         + 2.0 * valves[:, 0] * valves[:, 2]
         + rng.normal(0, 1.5, N))
X = np.column_stack([valves, slide / 12.0, (temp - 22.0) / 7.0, (partial - 5.0) / 2.0]).astype(np.float32)
y = cents.astype(np.float32)[:, None]


class IntonationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def mse(model, xb, yb):
    return mx.mean(mx.square(model(xb) - yb))


K, MAX_EPOCHS, PATIENCE, BATCH, WARM = 4, 60, 6, 64, 40
folds = np.array_split(rng.permutation(N), K)
summary = []
for f in range(K):
    va_idx = folds[f]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != f])
    y_mu, y_sd = float(y[tr_idx].mean()), float(y[tr_idx].std())
    x_tr, y_tr = mx.array(X[tr_idx]), mx.array((y[tr_idx] - y_mu) / y_sd)
    x_va, y_va = mx.array(X[va_idx]), mx.array((y[va_idx] - y_mu) / y_sd)
    base_mae = float(np.abs(y[va_idx] - y_mu).mean())

    mx.random.seed(100 + f)
    model = IntonationNet()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.02, WARM),
                                  optim.cosine_decay(0.02, MAX_EPOCHS * len(tr_idx) // BATCH, 1e-3)], [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    step_fn = nn.value_and_grad(model, mse)
    mx.eval(model.parameters())

    best, best_params, best_epoch, wait = math.inf, None, -1, 0
    log.info("fold %d/%d: %d train / %d held-out, baseline MAE %.2f cents", f + 1, K, len(tr_idx), len(va_idx), base_mae)
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = rng.permutation(len(tr_idx))
        run = 0.0
        for s in range(0, len(perm) - BATCH + 1, BATCH):
            b = mx.array(perm[s:s + BATCH])
            loss, grads = step_fn(model, x_tr[b], y_tr[b])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        nb = len(perm) // BATCH
        va_mse = mse(model, x_va, y_va).item()
        if va_mse < best - 1e-4:
            best, best_epoch, wait = va_mse, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if epoch == 1 or epoch % 5 == 0 or wait == 0 and epoch < 4:
            log.info("fold %d epoch %02d lr %.5f train_mse %.4f val_rmse %.3f cents (best %.3f @%d)",
                     f + 1, epoch, opt.learning_rate.item(), run / nb, y_sd * math.sqrt(va_mse), y_sd * math.sqrt(best), best_epoch)
        if wait >= PATIENCE:
            log.info("fold %d: no val gain for %d epochs, stopping at epoch %d", f + 1, PATIENCE, epoch)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = model(x_va)
    mae = y_sd * mx.mean(mx.abs(pred - y_va)).item()
    ss_res = mx.sum(mx.square(pred - y_va)).item()
    ss_tot = mx.sum(mx.square(y_va - mx.mean(y_va))).item()
    r2 = 1.0 - ss_res / ss_tot
    log.info("fold %d restored epoch %d: MAE %.2f cents (baseline %.2f, %.0f%% lower), R2 %.3f",
             f + 1, best_epoch, mae, base_mae, 100 * (1 - mae / base_mae), r2)
    summary.append((mae, base_mae, r2))

maes, bases, r2s = zip(*summary)
log.info("CV summary: MAE %.2f +- %.2f cents vs baseline %.2f; R2 %.3f", np.mean(maes), np.std(maes), np.mean(bases), np.mean(r2s))
