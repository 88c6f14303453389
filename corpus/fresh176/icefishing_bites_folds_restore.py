"""Ice-fishing log: predict perch bites per hour at an augered hole.

Poisson regression (log-rate MLP) on a synthetic season of hole records,
4-fold cross-validation, linear LR warmup from zero, early stopping that
restores the best weights of each fold.  One JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import numpy as np
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)

N = 2400
ice_cm = mx.random.uniform(15, 70, (N,))
snow_cm = mx.random.uniform(0, 35, (N,))
depth_m = mx.random.uniform(2, 14, (N,))
hour = mx.random.uniform(6, 18, (N,))
baro = mx.random.normal((N,))           # pressure trend, hPa/3h standardised
jig_red = (mx.random.uniform(shape=(N,)) < 0.5).astype(mx.float32)

# made-up law: dawn/dusk peaks, darker ice (snow) helps, mid depths best, falling pressure helps
log_rate = (
    0.6
    + 0.55 * mx.cos(2 * math.pi * (hour - 7.0) / 11.0)
    + 0.018 * snow_cm
    - 0.035 * (depth_m - 7.5) ** 2 / 2.0
    - 0.30 * baro
    - 0.008 * (ice_cm - 40)
    + 0.20 * jig_red
)
rate = mx.exp(log_rate)
# Poisson counts via exponential inter-arrival sums (rates are small)
u = mx.random.uniform(shape=(N, 40))
cum = mx.cumsum(-mx.log(u), axis=1)
bites = mx.sum(cum < rate[:, None], axis=1)
bites = bites.astype(mx.float32)

X = mx.stack([
    (ice_cm - 42.5) / 16.0,
    (snow_cm - 17.5) / 10.0,
    (depth_m - 8.0) / 3.5,
    mx.sin(2 * math.pi * hour / 24.0),
    mx.cos(2 * math.pi * hour / 24.0),
    baro,
    jig_red * 2 - 1,
], axis=1)
y = bites
mx.eval(X, y)


class BiteRate(nn.Module):
    def __init__(self, d_in, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def poisson_nll(model, xb, yb):
    lr = model(xb)
    return mx.mean(mx.exp(lr) - yb * lr)


K = 4
fold_id = mx.arange(N) % K
perm = mx.random.permutation(N)
fold_of = np.array(fold_id[mx.argsort(perm)])

WARM = 60
PEAK = 3e-3
BATCH = 128
MAX_EPOCHS = 40
PATIENCE = 6

t0 = time.time()
summary = []
for fold in range(K):
    m = fold_of != fold
    tr_idx = mx.array(np.nonzero(m)[0])
    va_idx = mx.array(np.nonzero(~m)[0])
    Xtr, ytr, Xva, yva = X[tr_idx], y[tr_idx], X[va_idx], y[va_idx]

    mx.random.seed(100 + fold)
    model = BiteRate(X.shape[1])
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, 600, 3e-4)], [WARM])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, poisson_nll)

    base_rate = mx.mean(ytr)
    base_mae = mx.mean(mx.abs(yva - base_rate)).item()
    base_nll = mx.mean(base_rate - yva * mx.log(base_rate)).item()

    best = (float("inf"), None, -1)
    bad = 0
    step = 0
    ntr = Xtr.shape[0]
    for epoch in range(MAX_EPOCHS):
        order = mx.random.permutation(ntr)
        tot = 0.0
        nb = 0
        for s in range(0, ntr, BATCH):
            ib = order[s:s + BATCH]
            loss, grads = step_fn(model, Xtr[ib], ytr[ib])
            if step == 0:
                zero = [k for k, g in tree_flatten(grads) if mx.sum(mx.abs(g)).item() == 0.0]
                print(json.dumps({"fold": fold, "check": "grad_nonzero", "zero_grad_params": zero,
                                  "lr_at_step0": float(opt.learning_rate.item())}))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
            step += 1
        va_nll = poisson_nll(model, Xva, yva).item()
        va_mae = mx.mean(mx.abs(mx.exp(model(Xva)) - yva)).item()
        improved = va_nll < best[0] - 1e-4
        if improved:
            best = (va_nll, tree_map(lambda a: mx.array(a), model.parameters()), epoch)
            bad = 0
        else:
            bad += 1
        print(json.dumps({"fold": fold, "epoch": epoch, "step": step,
                          "lr": round(float(opt.learning_rate.item()), 6),
                          "train_nll": round(tot / nb, 4), "val_nll": round(va_nll, 4),
                          "val_mae_bites_per_h": round(va_mae, 3),
                          "baseline_mae_bites_per_h": round(base_mae, 3),
                          "baseline_nll": round(base_nll, 4),
                          "patience_left": PATIENCE - bad}))
        if bad >= PATIENCE:
            break
    model.update(best[1])
    mx.eval(model.parameters())
    r_nll = poisson_nll(model, Xva, yva).item()
    r_mae = mx.mean(mx.abs(mx.exp(model(Xva)) - yva)).item()
    gain = 100.0 * (base_mae - r_mae) / base_mae
    print(json.dumps({"fold": fold, "event": "restore", "best_epoch": best[2],
                      "restored_val_nll": round(r_nll, 4), "val_mae_bites_per_h": round(r_mae, 3),
                      "mae_gain_vs_baseline_pct": round(gain, 1)}))
    summary.append((r_nll, r_mae, base_mae))

mean_mae = sum(s[1] for s in summary) / K
mean_base = sum(s[2] for s in summary) / K
print(json.dumps({"event": "cv_summary", "folds": K,
                  "mean_val_nll": round(sum(s[0] for s in summary) / K, 4),
                  "mean_val_mae_bites_per_h": round(mean_mae, 3),
                  "mean_baseline_mae_bites_per_h": round(mean_base, 3),
                  "wall_s": round(time.time() - t0, 1)}))
