"""Karst spring forecasting: next-day spring discharge (L/s) from the last 14 days
of rainfall and today's discharge.  Blocked 5-fold cross-validation, one fresh
model per fold, early stopping with restore of the best weights."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
DAYS = 1500
WIN = 14

# --- synthetic catchment: two linear reservoirs (conduit + matrix) -------------
wet = rng.random(DAYS) < 0.3
rain = np.where(wet, rng.exponential(9.0, DAYS), 0.0)          # mm/day
fast, slow = 20.0, 400.0
Q = np.zeros(DAYS)
for d in range(DAYS):
    fast += 0.55 * rain[d] * 6.0
    slow += 0.45 * rain[d] * 6.0
    qf, qs = 0.35 * fast, 0.025 * slow
    fast -= qf
    slow -= qs
    Q[d] = qf + qs + rng.normal(0, 1.5)                         # L/s

X, Y, Qtoday = [], [], []
for d in range(WIN, DAYS - 1):
    X.append(np.concatenate([np.log1p(rain[d - WIN + 1:d + 1]), [Q[d] / 50.0]]))
    Y.append(Q[d + 1])
    Qtoday.append(Q[d])
X = np.array(X, np.float32)
Y = np.array(Y, np.float32)
Qtoday = np.array(Qtoday, np.float32)
ymu, ysd = float(Y.mean()), float(Y.std())
Yn = (Y - ymu) / ysd

FOLDS = 5
fold_of = np.arange(len(X)) * FOLDS // len(X)                   # contiguous blocks


class SpringNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(WIN + 1, 32)
        self.l2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(nn.tanh(self.l2(nn.tanh(self.l1(x))))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def scores(model, idx):
    pred = np.array(model(mx.array(X[idx]))) * ysd + ymu
    err = pred - Y[idx]
    rmse = float(np.sqrt(np.mean(err ** 2)))
    nse = 1.0 - float(np.sum(err ** 2) / np.sum((Y[idx] - Y[idx].mean()) ** 2))
    return rmse, nse


summary = []
for fold in range(FOLDS):
    mx.random.seed(100 + fold)
    tr = np.where(fold_of != fold)[0]
    va = np.where(fold_of == fold)[0]
    model = SpringNet()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    persist = float(np.sqrt(np.mean((Qtoday[va] - Y[va]) ** 2)))
    best, best_params, wait, best_ep = float("inf"), None, 0, -1
    for ep in range(1, 61):
        perm = rng.permutation(tr)
        tot = 0.0
        for s in range(0, len(perm), 64):
            b = perm[s:s + 64]
            loss, grads = step(model, mx.array(X[b]), mx.array(Yn[b]))
            if fold == 0 and ep == 1 and s == 0:
                dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
                print(json.dumps({"event": "grad_check", "zero_grad_params": dead}))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * len(b)
        rmse, nse = scores(model, va)
        if rmse < best - 1e-4:
            best, wait, best_ep = rmse, 0, ep
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if ep % 5 == 0 or ep == 1 or wait == 10:
            print(json.dumps({"fold": fold, "epoch": ep, "train_mse_z": round(tot / len(tr), 5),
                              "val_rmse_Ls": round(rmse, 3), "val_nse": round(nse, 4),
                              "persistence_rmse_Ls": round(persist, 3), "patience": wait}))
        if wait == 10:
            break
    model.update(best_params)
    mx.eval(model.parameters())
    rmse, nse = scores(model, va)
    print(json.dumps({"fold": fold, "event": "restored", "best_epoch": best_ep,
                      "val_rmse_Ls": round(rmse, 3), "val_nse": round(nse, 4)}))
    summary.append((fold, best_ep, rmse, nse, persist))

print("fold | best_ep | rmse L/s | NSE    | persistence L/s")
for f, e, r, n, p in summary:
    print(f"{f:4d} | {e:7d} | {r:8.3f} | {n:6.3f} | {p:8.3f}")
print(json.dumps({"cv_rmse_Ls": round(float(np.mean([s[2] for s in summary])), 3),
                  "cv_nse": round(float(np.mean([s[3] for s in summary])), 4),
                  "cv_persistence_rmse_Ls": round(float(np.mean([s[4] for s in summary])), 3)}))
