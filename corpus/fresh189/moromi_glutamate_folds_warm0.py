"""Soy-sauce brewery: predict free glutamate (g/L) of pressed moromi from the brew log.

4-fold cross-validation; every fold starts a fresh model whose learning rate
ramps up from exactly 0.  One JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(189)
N = 2400
# brew log: koji ratio, brine NaCl %, months aged, mean temp C, stir count/week,
# soybean protein %, wheat share
koji = rng.uniform(0.8, 1.4, N)
salt = rng.uniform(15.0, 20.0, N)
months = rng.uniform(3.0, 24.0, N)
temp = rng.uniform(15.0, 35.0, N)
stirs = rng.integers(0, 8, N).astype(np.float64)
protein = rng.uniform(34.0, 42.0, N)
wheat = rng.uniform(0.3, 0.6, N)
glu = (
    3.0
    + 6.0 * (koji - 0.8)
    + 0.09 * protein
    + 4.0 * (1.0 - np.exp(-months / 8.0)) * (1.0 + 0.04 * (temp - 25.0))
    - 0.35 * np.maximum(salt - 17.5, 0.0) ** 2
    + 0.12 * np.sqrt(stirs)
    - 1.5 * (wheat - 0.45) ** 2 * 10
    + rng.normal(0.0, 0.25, N)
)
X = np.stack([koji, salt, months, temp, stirs, protein, wheat], axis=1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = glu.astype(np.float32)

K = 4
perm = rng.permutation(N)
folds = np.array_split(perm, K)


class GluNet(nn.Module):
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
    return ((model(xb) - yb) ** 2).mean()


EPOCHS = 30
BATCH = 64
PEAK = 3e-3
t0 = time.time()
fold_mae = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    ymean = float(y[tr_idx].mean())
    baseline_mae = float(np.abs(y[va_idx] - ymean).mean())

    mx.random.seed(100 + k)
    model = GluNet()
    steps_per_epoch = len(tr_idx) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, warm), optim.cosine_decay(PEAK, total - warm, 1e-5)],
        [warm],
    )
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, mse)

    for ep in range(EPOCHS):
        order = mx.array(np.random.default_rng(1000 * k + ep).permutation(len(tr_idx)))
        run = 0.0
        lr_step0 = float(opt.learning_rate)
        for b in range(steps_per_epoch):
            ib = order[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[ib], ytr[ib])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        if ep in (0, 1, 2, 5, 10, 20, EPOCHS - 1):
            va_mae = mx.abs(model(Xva) - yva).mean().item()
            print(json.dumps({
                "fold": k + 1,
                "epoch": ep + 1,
                "lr_epoch_start": round(lr_step0, 6),
                "lr": round(float(opt.learning_rate), 6),
                "train_mse": round(run / steps_per_epoch, 4),
                "val_mae_gL": round(va_mae, 4),
                "mean_predictor_mae_gL": round(baseline_mae, 4),
            }))
    fold_mae.append(mx.abs(model(Xva) - yva).mean().item())

summary = {
    "cv_val_mae_gL": round(float(np.mean(fold_mae)), 4),
    "cv_val_mae_sd": round(float(np.std(fold_mae)), 4),
    "per_fold": [round(v, 4) for v in fold_mae],
    "noise_floor_mae_gL": round(0.25 * math.sqrt(2 / math.pi), 4),
    "seconds": round(time.time() - t0, 1),
}
print(json.dumps(summary))
