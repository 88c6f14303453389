"""Cricket-bat workshop: predict how many days a green English-willow cleft
must air-season on the rack before it is dry enough to press.

3-fold cross validation, Adamax with a warm-up that starts at lr = 0,
early stopping on validation RMSE with restore of the best weights.
The workshop rule of thumb (days = a * green weight, one a fitted per fold)
is printed beside each fold as the baseline.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(20260127)
N = 900
green = rng.uniform(30, 140, N)             # green cleft weight (hectograms)
humid = rng.gamma(2.0, 6.0, N)              # shed humidity above 50 % RH (points)
spacing = rng.integers(8, 17, N)            # gap between clefts on the rack (cm)
temp = rng.uniform(2, 46, N)                # shed temperature (deg C)
fan = rng.uniform(0, 8, N)                  # hours of fan per day
rate = 15.0 * np.sqrt(spacing / 16.0) / (1.0 + 0.03 * humid) - 0.06 * np.abs(temp - 26.0) + 0.25 * np.sqrt(fan)
days = green / np.maximum(rate, 3.0) + rng.normal(0, 0.35, N)

X_raw = np.stack([green, humid, spacing, temp, fan, green / (1.0 + 0.03 * humid)], 1)
X_raw = X_raw.astype(np.float32)
y_all = days.astype(np.float32)
H_SCALE = 10.0

folds = np.array_split(rng.permutation(N), 3)


class SeasonNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def mse_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def rmse_days(model, x, y):
    return math.sqrt(mse_fn(model, x, y).item()) * H_SCALE


print(f"{'fold':>4} {'epoch':>5} {'lr':>9} {'train_rmse':>10} {'val_rmse':>9} {'rule_rmse':>9} {'R2%':>6}")
t0 = time.time()
summary = []
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    mu, sd = X_raw[tr_idx].mean(0), X_raw[tr_idx].std(0) + 1e-6
    Xtr = mx.array((X_raw[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx] / H_SCALE)
    Xva = mx.array((X_raw[va_idx] - mu) / sd)
    yva = mx.array(y_all[va_idx] / H_SCALE)

    # workshop rule of thumb fitted on the training fold: days = a * green weight
    d_tr = X_raw[tr_idx, 0]
    a = float((d_tr * y_all[tr_idx]).sum() / (d_tr * d_tr).sum())
    rule = math.sqrt(float(np.mean((a * X_raw[va_idx, 0] - y_all[va_idx]) ** 2)))
    var_va = float(np.var(y_all[va_idx]))

    mx.random.seed(100 + k)
    model = SeasonNet(Xtr.shape[1])
    mx.eval(model.parameters())
    steps_per_epoch = Xtr.shape[0] // 32
    warm = optim.linear_schedule(0.0, 4e-3, 40)
    decay = optim.cosine_decay(4e-3, 60 * steps_per_epoch, 2e-4)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [40]))
    step_fn = nn.value_and_grad(model, mse_fn)

    best, best_params, bad, patience = float("inf"), None, 0, 6
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = 0.0
        for i in range(steps_per_epoch):
            bi = perm[i * 32:(i + 1) * 32]
            loss, grads = step_fn(model, Xtr[bi], ytr[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        tr = math.sqrt(tot / steps_per_epoch) * H_SCALE
        va = rmse_days(model, Xva, yva)
        r2 = 100.0 * (1.0 - va * va / var_va)
        if epoch == 1 or epoch % 5 == 0:
            lr = opt.learning_rate.item()
            print(f"{k + 1:>4} {epoch:>5} {lr:>9.2e} {tr:>10.2f} {va:>9.2f} {rule:>9.2f} {r2:>6.1f}")
        if va < best - 1e-3:
            best, bad = va, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= patience:
                print(f"   fold {k + 1}: no val gain for {patience} epochs, stop at epoch {epoch}")
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = rmse_days(model, Xva, yva)
    print(f"   fold {k + 1}: restored best val_rmse {restored:.2f} d (rule of thumb {rule:.2f} d)")
    summary.append((restored, rule))

cv = np.mean([s[0] for s in summary])
base = np.mean([s[1] for s in summary])
print(f"CV val_rmse {cv:.2f} d vs rule of thumb {base:.2f} d  ({time.time() - t0:.1f}s)")
