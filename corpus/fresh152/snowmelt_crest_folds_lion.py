"""Snowmelt creek gauge: predict the lag (hours) from solar noon to the daily
crest of a snowmelt-fed creek from snow water equivalent, the previous day's
lag, overnight low and a south-aspect flag.  4-fold cross-validation, Lion
with a warmup from lr=0, early stopping that restores the best weights of each
fold."""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
mx.random.seed(11)


def make_creek_days(n):
    rows, ys = [], []
    prev_lag = 9.0
    for _ in range(n):
        swe = random.choice([random.gauss(18.0, 4.0), random.gauss(55.0, 6.0)])  # cm
        swe = max(4.0, swe)
        low_c = random.gauss(-3.0, 3.0)
        south = 1.0 if random.random() < 0.5 else 0.0
        lag = 3.0 + 0.13 * swe + 0.2 * (prev_lag - 9.0) + 0.45 * (-low_c - 3.0) / 3.0 \
            - 1.2 * south * (swe > 35.0) + random.gauss(0.0, 0.6)
        rows.append([(swe - 36.0) / 20.0, (prev_lag - 9.0) / 3.0, (low_c + 3.0) / 3.0, south])
        ys.append(lag)
        prev_lag = lag
    return mx.array(rows), mx.array(ys)


X, Y = make_creek_days(640)
Y_MEAN, Y_STD = 9.0, 3.0


class CrestLagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    pred = model(x)
    return nn.losses.huber_loss(pred, (y - Y_MEAN) / Y_STD, delta=1.0, reduction="mean")


def mae_hours(model, x, y):
    pred = model(x) * Y_STD + Y_MEAN
    return mx.mean(mx.abs(pred - y)).item()


K = 4
fold_size = X.shape[0] // K
perm = mx.array(random.sample(range(X.shape[0]), X.shape[0]))
X, Y = X[perm], Y[perm]
BATCH, EPOCHS, PATIENCE, WARMUP = 32, 60, 8, 40
fold_report = []

for fold in range(K):
    lo, hi = fold * fold_size, (fold + 1) * fold_size
    val_idx = mx.arange(lo, hi)
    tr_idx = mx.concatenate([mx.arange(0, lo), mx.arange(hi, X.shape[0])])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]
    baseline = mx.mean(mx.abs(yva - mx.mean(ytr))).item()  # always guess the training-set mean lag

    model = CrestLagNet()
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, WARMUP), optim.cosine_decay(3e-4, EPOCHS * 15, 3e-5)],
        [WARMUP])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    step = nn.value_and_grad(model, loss_fn)

    best, best_ep, best_params, bad = float("inf"), -1, None, 0
    for ep in range(EPOCHS):
        order = mx.array(random.sample(range(xtr.shape[0]), xtr.shape[0]))
        tot, nb = 0.0, 0
        for b in range(0, xtr.shape[0], BATCH):
            idx = order[b:b + BATCH]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        val = mae_hours(model, xva, yva)
        lr_now = opt.learning_rate.item()
        if ep % 5 == 0 or ep == EPOCHS - 1:
            print(json.dumps({"fold": fold, "ep": ep, "lr": float(f"{lr_now:.2e}"),
                              "huber": round(tot / nb, 4), "val_mae_h": round(val, 2),
                              "mean_guess_mae_h": round(baseline, 2)}))
        if val < best - 1e-3:
            best, best_ep, bad = val, ep, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
            if bad >= PATIENCE:
                print(json.dumps({"fold": fold, "event": "early_stop", "ep": ep,
                                  "restore_ep": best_ep}))
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = mae_hours(model, xva, yva)
    fold_report.append((fold, best_ep, restored, baseline))

print("fold  best_ep  val_mae(h)  mean-guess(h)  skill%")
for f, be, m, b in fold_report:
    print(f"{f:>4}  {be:>7}  {m:>10.2f}  {b:>13.2f}  {100 * (1 - m / b):>6.1f}")
avg = sum(r[2] for r in fold_report) / K
print(json.dumps({"cv_mae_h": round(avg, 2),
                  "cv_baseline_h": round(sum(r[3] for r in fold_report) / K, 2)}))
