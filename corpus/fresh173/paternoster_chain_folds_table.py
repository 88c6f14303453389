# Paternoster lift maintenance: how many weeks until a drive-chain link must be swapped?
# 5-fold cross-validation over inspection records, each fold starts its learning rate at
# exactly zero, warms up, cosine-decays, and stops early with the best weights restored.
import copy
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N = 2500
elong = rng.gamma(2.0, 0.35, N)          # % elongation measured with a gauge
lube = rng.uniform(0, 1, N)               # lubrication score
cabins = rng.integers(10, 28, N)          # cabins on the loop
load = rng.normal(0.55, 0.15, N)          # average occupancy
hours = rng.normal(14, 3, N)              # service hours per day
temp = rng.normal(19, 5, N)               # machine-room temp C
noise = rng.normal(62, 5, N)              # sprocket noise dB
weeks = (160 * np.exp(-1.1 * elong) * (0.6 + 0.6 * lube) / (1 + 0.9 * load * cabins / 18)
         * (14 / np.clip(hours, 6, None)) ** 0.7 - 0.8 * (noise - 62) + rng.normal(0, 4, N))
weeks = np.clip(weeks, 1, None)
X = np.stack([elong, lube, cabins, load, hours, temp, noise], 1).astype(np.float32)
y = np.log(weeks).astype(np.float32)

folds = np.array_split(rng.permutation(N), 5)


class LifeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


print("fold | epoch |   lr     | train mse(log) | val MAE wk | within 4 wk | mean-guess MAE wk")
print("-----+-------+----------+----------------+------------+-------------+------------------")
summary = []
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    mu, sd = X[tr].mean(0), X[tr].std(0)
    Xtr, Xva = mx.array((X[tr] - mu) / sd), mx.array((X[va] - mu) / sd)
    ytr, yva = mx.array(y[tr]), mx.array(y[va])
    weeks_va = np.exp(y[va])
    base_mae = float(np.mean(np.abs(np.exp(y[tr].mean()) - weeks_va)))

    mx.random.seed(k)
    model = LifeNet()
    steps_per_epoch = len(tr) // 64
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 3 * steps_per_epoch),
         optim.cosine_decay(4e-3, 60 * steps_per_epoch, 1e-5)],
        [3 * steps_per_epoch])
    opt = optim.Adamax(learning_rate=sched)
    grad_fn = nn.value_and_grad(model, mse)

    if k == 0:
        _, g = grad_fn(model, Xtr[:64], ytr[:64])
        nz = sum(int(mx.any(v != 0).item()) for _, v in tree_flatten(g))
        print(f"  (gradient check: {nz}/{len(tree_flatten(g))} parameter tensors get a non-zero gradient;"
              f" lr at step 0 = {float(sched(mx.array(0))):.1e})")

    best, best_w, bad, patience = 1e9, None, 0, 6
    for epoch in range(1, 61):
        perm = np.random.permutation(len(tr))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * 64:(i + 1) * 64])
            loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred_weeks = np.exp(np.array(model(Xva)))
        mae = float(np.mean(np.abs(pred_weeks - weeks_va)))
        within = float(np.mean(np.abs(pred_weeks - weeks_va) <= 4.0)) * 100
        if mae < best - 1e-3:
            best, bad = mae, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            best_epoch, best_within = epoch, within
        else:
            bad += 1
        if epoch in (1, 2, 5) or epoch % 10 == 0 or bad > patience:
            lr_now = float(opt.learning_rate)
            print(f"  {k}  | {epoch:5d} | {lr_now:.2e} | {tot / steps_per_epoch:14.4f} | {mae:10.2f} |"
                  f" {within:10.1f}% | {base_mae:17.2f}")
        if bad > patience:
            print(f"  {k}  | stop  | no val gain for {patience + 1} epochs, restoring epoch {best_epoch}")
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred_weeks = np.exp(np.array(model(Xva)))
    restored = float(np.mean(np.abs(pred_weeks - weeks_va)))
    summary.append((k, best_epoch, restored, best_within, base_mae))

print()
print("fold  best_ep  MAE_wk  within4%  baseline_MAE_wk")
for k, be, m, w, b in summary:
    print(f"{k:4d}  {be:7d}  {m:6.2f}  {w:7.1f}  {b:15.2f}")
arr = np.array([s[2] for s in summary])
print(f"cv MAE {arr.mean():.2f} +/- {arr.std():.2f} weeks vs mean-guess {np.mean([s[4] for s in summary]):.2f}")
