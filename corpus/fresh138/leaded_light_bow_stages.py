# Leaded-light restoration notes: how far (mm) a leaded glass panel bows out of plane
# after ~20 years, from what a restorer measures on site.  Trained in three stages:
# small sheltered panels first, then large panels, then everything incl. storm-side ones.
# Each stage has its own early stopping and rolls back to its best weights.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(138)


def make_panels(n):
    width = rng.uniform(0.25, 1.2, n)          # m
    height = rng.uniform(0.3, 1.6, n)          # m
    came = rng.choice([4.0, 6.0, 8.0, 10.0], n)  # lead came heart width, mm
    bars = rng.integers(0, 4, n).astype(float)  # saddle bars
    age = rng.uniform(5, 120, n)               # years since last releading
    south = rng.uniform(0, 1, n)               # fraction of day in direct sun
    storm = rng.binomial(1, 0.3, n).astype(float)  # weather-side elevation
    glass = rng.uniform(2.0, 4.5, n)           # mm
    area = width * height
    span = height / (bars + 1.0)
    # made-up law: bow grows with unsupported span^2 and weight, lead creep with sun
    bow = (
        6.0 * span ** 2 * (glass / 3.0) * (8.0 / came) ** 0.7
        + 0.04 * age * (0.5 + south) * area
        + storm * 2.5 * area * (1 + 0.01 * age)
        + 1.5 * np.sin(3 * width) * south
    )
    bow = bow + rng.normal(0, 0.35, n)
    X = np.stack([width, height, came, bars, age / 50, south, storm, glass, area], 1)
    return X.astype(np.float32), bow.astype(np.float32), area, storm


X, y, area, storm = make_panels(9000)
mu, sd = X[:7000].mean(0), X[:7000].std(0)
X = (X - mu) / sd
y_mu, y_sd = float(y[:7000].mean()), float(y[:7000].std())
yn = (y - y_mu) / y_sd
idx_tr, idx_va = np.arange(7000), np.arange(7000, 9000)

stage_masks = {
    "sheltered_small": (area < 0.5) & (storm == 0),
    "large_sheltered": storm == 0,
    "all_incl_storm": np.ones_like(storm, dtype=bool),
}


class BowNet(nn.Module):
    def __init__(self, d_in, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


model = BowNet(X.shape[1])
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, mse)

# one-off check that every weight receives gradient
_, g0 = loss_and_grad(model, mx.array(X[:256]), mx.array(yn[:256]))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

Xva_all, yva_all = mx.array(X[idx_va]), y[idx_va]


def rmse_mm(model, Xm, ymm):
    pred = np.array(model(Xm)) * y_sd + y_mu
    return float(np.sqrt(np.mean((pred - ymm) ** 2)))


t0 = time.time()
batch = 128
for stage_no, (stage, mask) in enumerate(stage_masks.items(), 1):
    tr = idx_tr[mask[idx_tr]]
    va = idx_va[mask[idx_va]]
    Xs_va, ys_va = mx.array(X[va]), y[va]
    ref = float(np.sqrt(np.mean((y[va] - y[tr].mean()) ** 2)))  # predict-the-mean baseline
    lr = {1: 0.02, 2: 0.01, 3: 0.005}[stage_no]
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    best, best_params, bad, patience = math.inf, None, 0, 4
    for epoch in range(1, 41):  # epoch counter restarts every stage
        perm = rng.permutation(tr)
        run = 0.0
        for i in range(0, len(perm) - batch + 1, batch):
            b = perm[i : i + batch]
            loss, grads = loss_and_grad(model, mx.array(X[b]), mx.array(yn[b]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        nb = len(perm) // batch
        va_rmse = rmse_mm(model, Xs_va, ys_va)
        print(json.dumps({
            "stage": stage_no, "name": stage, "epoch": epoch, "n_train": int(len(tr)),
            "train_mse_std": round(run / nb, 4), "val_rmse_mm": round(va_rmse, 3),
            "ref_rmse_mm": round(ref, 3), "holdout_all_rmse_mm": round(rmse_mm(model, Xva_all, yva_all), 3),
        }))
        if va_rmse < best - 1e-3:
            best, bad = va_rmse, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= patience:
                break
    model.update(best_params)
    mx.eval(model.parameters())
    print(json.dumps({"event": "stage_done", "stage": stage_no, "restored_val_rmse_mm": round(rmse_mm(model, Xs_va, ys_va), 3),
                      "best_val_rmse_mm": round(best, 3), "epochs_run": epoch}))

final = rmse_mm(model, Xva_all, yva_all)
base = float(np.sqrt(np.mean((yva_all - y[idx_tr].mean()) ** 2)))
print(json.dumps({"event": "summary", "holdout_rmse_mm": round(final, 3), "mean_baseline_rmse_mm": round(base, 3),
                  "noise_floor_mm": 0.35, "seconds": round(time.time() - t0, 1)}))
