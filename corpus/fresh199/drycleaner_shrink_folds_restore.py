#!/usr/bin/env python
# Dry-cleaning shop: predict garment shrinkage (% of length) from the job ticket.
# 5-fold cross-validation; each fold trains from scratch with early stopping and
# restores the best-validation weights before scoring.
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
log = logging.getLogger("shrinkage")

rs = np.random.RandomState(2024)
N = 3000
wool = rs.uniform(0, 1, N)            # wool share of the fibre blend
solvent_c = rs.uniform(18, 38, N)     # solvent temperature, deg C
cycle_min = rs.uniform(8, 40, N)      # cycle length, minutes
moisture = rs.uniform(0, 12, N)       # residual moisture, %
tumble = rs.uniform(20, 60, N)        # tumble rpm
press_c = rs.uniform(110, 180, N)     # press temperature, deg C
age_y = rs.exponential(3.0, N)        # garment age, years

shrink = (
    0.2
    + 2.8 * wool * (moisture / 12.0) ** 1.5 * (tumble / 60.0)
    + 0.03 * np.maximum(solvent_c - 28, 0) * (0.5 + wool)
    + 0.012 * cycle_min * wool
    + 0.6 * np.maximum(press_c - 160, 0) / 20.0
    - 0.35 * (1 - np.exp(-age_y / 2.0))
    + rs.normal(0, 0.12, N)
)
X_all = np.stack([wool, solvent_c, cycle_min, moisture, tumble, press_c, age_y], 1).astype(np.float32)
y_all = shrink.astype(np.float32)[:, None]


class ShrinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


K = 5
folds = np.array_split(rs.permutation(N), K)
rows = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0)
    xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = mx.array(y_all[va_idx])
    base_mae = float(np.abs(y_all[va_idx] - y_all[tr_idx].mean()).mean())

    mx.random.seed(100 + k)
    net = ShrinkNet()
    mx.eval(net.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    step_fn = nn.value_and_grad(net, huber)

    best, best_ep, best_w, patience, bad = math.inf, -1, None, 6, 0
    for ep in range(1, 61):
        order = mx.array(rs.permutation(xtr.shape[0]))
        tot, nb = 0.0, 0
        for s in range(0, xtr.shape[0], 96):
            b = order[s:s + 96]
            loss, g = step_fn(net, xtr[b], ytr[b])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        pred = net(xva)
        va_mae = mx.abs(pred - yva).mean().item()
        if ep == 1 or ep % 5 == 0:
            log.info("fold=%d ep=%02d huber=%.4f val_mae=%.3f%% (mean-guess %.3f%%)", k, ep, tot / nb, va_mae, base_mae)
        if va_mae < best - 1e-4:
            best, best_ep, bad = va_mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), net.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= patience:
                log.warning("fold=%d early stop at ep=%d, best ep=%d", k, ep, best_ep)
                break
    net.update(best_w)
    mx.eval(net.parameters())
    restored = mx.abs(net(xva) - yva).mean().item()
    drift = abs(restored - best)
    log.info("fold=%d restored weights from ep=%d: val_mae=%.3f%% |diff vs best|=%.2e", k, best_ep, restored, drift)
    rows.append((k, best_ep, base_mae, restored, 100.0 * (1 - restored / base_mae)))

print("")
print("+------+---------+--------------+-------------+-----------+")
print("| fold | best ep | mean-guess % | model MAE % | skill %   |")
print("+------+---------+--------------+-------------+-----------+")
for k, be, bm, m, sk in rows:
    print(f"| {k:4d} | {be:7d} | {bm:12.3f} | {m:11.3f} | {sk:9.1f} |")
print("+------+---------+--------------+-------------+-----------+")
arr = np.array([r[3] for r in rows])
print(f"CV MAE {arr.mean():.3f} +/- {arr.std():.3f} (% shrinkage), params={sum(v.size for _, v in tree_flatten(net.parameters()))}")
