"""Dendroclimatology: reconstruct a standardized tree-ring width index (RWI)
from monthly climate of the growth year (12 temps + 12 precip anomalies).

4-fold cross validation over synthetic 'years'; each fold trains a fresh MLP
with Adafactor, a linear warmup that starts from lr = 0 exactly, then cosine,
and early stopping that restores the best weights of the fold.
Output is JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(1871)
N_YEARS = 480
temp = rng.normal(0, 1, (N_YEARS, 12)).astype(np.float32)
prec = rng.normal(0, 1, (N_YEARS, 12)).astype(np.float32)
# made-up growth law: spring/early-summer moisture helps, July heat hurts,
# warm previous-autumn-ish months (Sep/Oct) help a bit, a nonlinear drought term
moist = prec[:, 3:7].mean(1)
heat = temp[:, 6]
autumn = temp[:, 8:10].mean(1)
drought = np.maximum(0.0, heat - 0.5) * np.maximum(0.0, -moist)
rwi = 1.0 + 0.35 * moist - 0.25 * heat + 0.10 * autumn - 0.30 * drought
rwi = rwi + rng.normal(0, 0.08, N_YEARS)
X_all = np.concatenate([temp, prec], 1)
y_all = rwi.astype(np.float32)[:, None]

K = 4
folds = np.array_split(rng.permutation(N_YEARS), K)


class RingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(24, 48)
        self.l2 = nn.Linear(48, 24)
        self.out = nn.Linear(24, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / math.sqrt(float((a * a).sum() * (b * b).sum()) + 1e-12))


EPOCHS = 60
WARM = 8
BATCH = 40
t0 = time.time()
fold_scores = []
for k in range(K):
    mx.random.seed(100 + k)
    te_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, ytr = mx.array(X_all[tr_idx]), mx.array(y_all[tr_idx])
    Xte, yte = mx.array(X_all[te_idx]), mx.array(y_all[te_idx])
    clim = float(y_all[tr_idx].mean())  # climatology baseline: predict the mean index
    base_rmse = float(np.sqrt(((y_all[te_idx] - clim) ** 2).mean()))

    model = RingNet()
    mx.eval(model.parameters())
    steps_per_epoch = len(tr_idx) // BATCH
    warm = optim.linear_schedule(0.0, 3e-3, WARM * steps_per_epoch)
    cos = optim.cosine_decay(3e-3, (EPOCHS - WARM) * steps_per_epoch, 1e-4)
    sched = optim.join_schedules([warm, cos], [WARM * steps_per_epoch])
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)
    step = nn.value_and_grad(model, loss_fn)

    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    for ep in range(EPOCHS):
        perm = mx.array(np.random.default_rng(ep + 31 * k).permutation(len(tr_idx)))
        tot = 0.0
        for b in range(steps_per_epoch):
            ib = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step(model, Xtr[ib], ytr[ib])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = model(Xte)
        rmse = math.sqrt(mx.mean((pred - yte) ** 2).item())
        r = corr(np.array(pred[:, 0]), y_all[te_idx, 0])
        if ep % 6 == 0 or ep == EPOCHS - 1:
            print(json.dumps({"fold": k + 1, "epoch": ep, "lr": round(float(opt.learning_rate), 6),
                              "mse_train": round(tot / steps_per_epoch, 5),
                              "rmse_val": round(rmse, 4), "rmse_clim": round(base_rmse, 4),
                              "r_val": round(r, 3)}))
        if rmse < best - 1e-4:
            best, best_ep, patience = rmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 10 and ep > WARM + 5:
                print(json.dumps({"fold": k + 1, "event": "early_stop", "epoch": ep,
                                  "restore_epoch": best_ep}))
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(Xte)
    rmse = math.sqrt(mx.mean((pred - yte) ** 2).item())
    r = corr(np.array(pred[:, 0]), y_all[te_idx, 0])
    skill = 1.0 - (rmse / base_rmse) ** 2  # reduction of error vs climatology
    fold_scores.append((rmse, r, skill))
    print(json.dumps({"fold": k + 1, "event": "fold_done", "best_epoch": best_ep,
                      "rmse_val": round(rmse, 4), "rmse_clim": round(base_rmse, 4),
                      "r_val": round(r, 3), "RE": round(skill, 3)}))

arr = np.array(fold_scores)
print(json.dumps({"summary": "cv", "k": K, "rmse_mean": round(float(arr[:, 0].mean()), 4),
                  "r_mean": round(float(arr[:, 1].mean()), 3), "RE_mean": round(float(arr[:, 2].mean()), 3),
                  "n_params": sum(v.size for _, v in tree_flatten(model.parameters())),
                  "seconds": round(time.time() - t0, 1)}))
