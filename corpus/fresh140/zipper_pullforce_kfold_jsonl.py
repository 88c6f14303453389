"""Zipper line QC: predict slider pull force (newtons) from tooth/tape measurements.
4-fold cross-validation, AdamW with a linear warmup that starts at lr = 0,
early stopping on validation MAE with best-weight restore. Logs JSON lines."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(1407)
N = 640
tooth_pitch = rng.uniform(2.5, 6.0, N)        # mm
tooth_height = rng.uniform(1.0, 2.4, N)       # mm
tape_stiff = rng.uniform(0.2, 1.0, N)         # relative
lube = rng.uniform(0.0, 1.0, N)               # wax coverage fraction
slider_gap = rng.uniform(-0.15, 0.15, N)      # mm, deviation from nominal
humidity = rng.uniform(20, 85, N)             # %
curvature = rng.uniform(0.0, 1.0, N)          # bend of the test rig
force = (
    4.0
    + 6.5 * np.exp(-8.0 * slider_gap) * (tooth_height / 1.7) ** 1.5
    - 2.2 * lube
    + 1.8 * tape_stiff * curvature
    + 0.03 * (humidity - 50) * (1 - lube)
    + 0.6 * np.sin(tooth_pitch * 1.3)
)
force = force + rng.normal(0, 0.35, N)
X = np.stack([tooth_pitch, tooth_height, tape_stiff, lube, slider_gap, humidity, curvature], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = force.astype(np.float32)

folds = np.array_split(rng.permutation(N), 4)


class PullForceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


BATCH, MAX_EPOCHS, PATIENCE, WARM = 32, 70, 8, 45
t0 = time.time()
summary = []
for k, val_idx in enumerate(folds, start=1):
    mx.random.seed(100 + k)
    tr_idx = np.concatenate([f for j, f in enumerate(folds, start=1) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[val_idx]), mx.array(y[val_idx])
    baseline = float(np.mean(np.abs(y[val_idx] - y[tr_idx].mean())))

    model = PullForceNet()
    steps_per_epoch = math.ceil(len(tr_idx) / BATCH)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM),
         optim.cosine_decay(3e-3, MAX_EPOCHS * steps_per_epoch, 1e-5)],
        [WARM],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, lambda xb, yb: mse(model, xb, yb))
    print(json.dumps({"fold": k, "event": "fold_start", "n_train": int(len(tr_idx)),
                      "n_val": int(len(val_idx)), "lr_step0": float(sched(0))}))

    if k == 1:  # audit: every weight gets a gradient
        _, g0 = vg(Xtr[:64], ytr[:64])
        norms = {n: float(mx.linalg.norm(v)) for n, v in tree_flatten(g0)}
        print(json.dumps({"audit": "grad_norms", "min": round(min(norms.values()), 6),
                          "n_tensors": len(norms)}))

    best_mae, best_params, best_epoch, bad = float("inf"), None, 0, 0
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(steps_per_epoch):
            ids = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = vg(Xtr[ids], ytr[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        val_mae = mx.mean(mx.abs(model(Xva) - yva)).item()
        if val_mae < best_mae - 1e-4:
            best_mae, best_params, best_epoch, bad = val_mae, model.parameters(), epoch, 0
        else:
            bad += 1
        if epoch == 1 or epoch % 5 == 0:
            print(json.dumps({"fold": k, "epoch": epoch,
                              "lr": round(float(opt.learning_rate), 6),
                              "train_mse_N2": round(tot / steps_per_epoch, 4),
                              "val_mae_N": round(val_mae, 4),
                              "baseline_mae_N": round(baseline, 4)}))
        if bad >= PATIENCE:
            print(json.dumps({"fold": k, "event": "early_stop", "epoch": epoch,
                              "restore_epoch": best_epoch}))
            break
    model.update(best_params)
    restored = mx.mean(mx.abs(model(Xva) - yva)).item()
    summary.append(restored)
    print(json.dumps({"fold": k, "event": "fold_done", "best_val_mae_N": round(restored, 4),
                      "baseline_mae_N": round(baseline, 4),
                      "skill_pct": round(100 * (1 - restored / baseline), 1)}))

print(json.dumps({"event": "cv_summary", "mae_N_mean": round(float(np.mean(summary)), 4),
                  "mae_N_std": round(float(np.std(summary)), 4),
                  "seconds": round(time.time() - t0, 1)}))
