"""Blade-root fatigue regression from strain-gauge features, 4-fold CV.

Each fold: fresh MLP, Lion with a warmup that starts at exactly lr=0, cosine decay after,
early stopping on validation RMSE with restore of the best weights.  Output is JSON lines.
"""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N, CH = 400, 12
wind = rng.uniform(4.0, 24.0, size=(N, 1))                     # m/s
gauges = rng.normal(size=(N, CH)) * 0.5 + 0.08 * wind          # microstrain features (scaled)
pitch = rng.uniform(-2.0, 12.0, size=(N, 1))                   # deg
# damage-equivalent load (kN*m, arbitrary scale): nonlinear in wind/pitch/gauge pairs
del_load = (0.9 * wind ** 1.5 / 10.0 - 0.35 * np.maximum(pitch - 4.0, 0.0)
            + 1.3 * np.tanh(gauges[:, :3].sum(1, keepdims=True))
            + 0.6 * gauges[:, 4:5] * gauges[:, 7:8]
            + 0.15 * rng.normal(size=(N, 1)))
X = np.concatenate([gauges, (wind - 14.0) / 6.0, (pitch - 5.0) / 4.0], axis=1).astype(np.float32)
Y = del_load.astype(np.float32)
folds = np.array_split(rng.permutation(N), 4)


class DELNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


EPOCHS, BS, PATIENCE, WARM = 90, 50, 18, 12
summary = []
for k, val_idx in enumerate(folds, start=1):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k - 1])
    mu, sd = Y[tr_idx].mean(), Y[tr_idx].std()
    xtr, ytr = mx.array(X[tr_idx]), mx.array((Y[tr_idx] - mu) / sd)
    xva, yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
    baseline_rmse = float(np.sqrt(((Y[val_idx] - mu) ** 2).mean()))   # predict train mean

    mx.random.seed(100 + k)
    model = DELNet(X.shape[1])
    steps_per_epoch = math.ceil(len(tr_idx) / BS)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM * steps_per_epoch),
         optim.cosine_decay(2e-3, (EPOCHS - WARM) * steps_per_epoch, 1e-5)],
        [WARM * steps_per_epoch])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, mse)
    mx.eval(model.parameters())

    if k == 1:
        _, g0 = step_fn(model, xtr[:BS], ytr[:BS])
        zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0.0]
        print(json.dumps({"event": "grad_audit", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    order_rng = np.random.default_rng(k)
    for ep in range(EPOCHS):
        perm = order_rng.permutation(len(tr_idx))
        lr_now = float(opt.learning_rate) if ep > 0 else 0.0
        tot = 0.0
        for s in range(steps_per_epoch):
            b = mx.array(perm[s * BS:(s + 1) * BS])
            loss, grads = step_fn(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = model(xva) * sd + mu
        rmse = mx.sqrt(((pred - yva) ** 2).mean()).item()
        r2 = 1.0 - rmse ** 2 / baseline_rmse ** 2
        if rmse < best - 1e-4:
            best, best_ep, wait = rmse, ep, 0
            best_w = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            wait += 1
        if ep % 10 == 0 or wait > PATIENCE:
            print(json.dumps({"fold": k, "epoch": ep, "lr": round(lr_now, 6),
                              "train_mse_z": round(tot / steps_per_epoch, 5),
                              "val_rmse_kNm": round(rmse, 4), "val_r2_pct": round(100 * r2, 2),
                              "mean_baseline_rmse_kNm": round(baseline_rmse, 4)}))
        if wait > PATIENCE:
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(xva) * sd + mu
    restored = mx.sqrt(((pred - yva) ** 2).mean()).item()
    print(json.dumps({"event": "restore", "fold": k, "best_epoch": best_ep, "stopped_epoch": ep,
                      "val_rmse_kNm": round(restored, 4), "diff_vs_best": round(abs(restored - best), 6)}))
    summary.append((restored, baseline_rmse))

cv = float(np.mean([r for r, _ in summary]))
base = float(np.mean([b for _, b in summary]))
print(json.dumps({"event": "cv_summary", "folds": len(summary), "cv_rmse_kNm": round(cv, 4),
                  "baseline_rmse_kNm": round(base, 4), "skill_pct": round(100 * (1 - cv / base), 1)}))
