"""Yurt lattice wall: predict the snow load (kPa) at which the khana lattice buckles.

Targets are log-transformed and standardised for training; evaluation inverts the
transform and reports errors in kPa next to a predict-the-median baseline.
Cosine schedule with warm restarts (SGDR), early stopping on validation MAE with
restore of the best weights. One JSON object per line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2291)
N = 4000
# features: lattice diameter (m), slat thickness (mm), crossing spacing (cm),
# willow density (kg/m3), roof ring height (m), felt layers, wind exposure (0-1)
diam = rng.uniform(4.0, 8.0, N)
thick = rng.uniform(14, 28, N)
spacing = rng.uniform(22, 40, N)
dens = rng.uniform(480, 720, N)
ring_h = rng.uniform(2.2, 3.2, N)
felt = rng.integers(1, 4, N).astype(np.float64)
wind = rng.uniform(0, 1, N)
log_load = (0.2 + 1.6 * np.log(thick / 20) - 0.9 * np.log(diam / 6) - 0.7 * np.log(spacing / 30)
            + 1.1 * (dens - 600) / 240 + 0.5 * np.sin(3 * (ring_h - 2.7)) - 0.12 * felt
            - 0.35 * wind ** 2 + rng.normal(0, 0.08, N))
load_kpa = np.exp(log_load)  # skewed, positive, kPa

X = np.stack([diam, thick, spacing, dens, ring_h, felt, wind], 1)
idx = rng.permutation(N)
tr, va, te = idx[:3000], idx[3000:3500], idx[3500:]
x_mu, x_sd = X[tr].mean(0), X[tr].std(0)
y_log = np.log(load_kpa)
y_mu, y_sd = y_log[tr].mean(), y_log[tr].std()


def prep(ix):
    xs = mx.array(((X[ix] - x_mu) / x_sd).astype(np.float32))
    ys = mx.array(((y_log[ix] - y_mu) / y_sd).astype(np.float32))
    return xs, ys


Xtr, Ytr = prep(tr)
Xva, Yva = prep(va)
Xte, Yte = prep(te)
kpa_va = mx.array(load_kpa[va].astype(np.float32))
kpa_te = mx.array(load_kpa[te].astype(np.float32))
median_kpa = float(np.median(load_kpa[tr]))


class LatticeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def to_kpa(z):
    return mx.exp(z * y_sd + y_mu)


mx.random.seed(229)
model = LatticeNet()
mx.eval(model.parameters())

BATCH = 50
STEPS_PER_EPOCH = len(tr) // BATCH
CYCLE_EPOCHS = [6, 12, 24]
LR_MAX, LR_MIN = 3e-3, 1e-5
opt = optim.AdamW(learning_rate=LR_MAX, weight_decay=1e-4)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)


def sgdr_lr(epoch, step):
    start = 0
    for length in CYCLE_EPOCHS:
        if epoch < start + length:
            t = ((epoch - start) * STEPS_PER_EPOCH + step) / (length * STEPS_PER_EPOCH)
            return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))
        start += length
    return LR_MIN


def evaluate(xs, kpa):
    pred = to_kpa(model(xs))
    mae = mx.mean(mx.abs(pred - kpa))
    mape = 100 * mx.mean(mx.abs(pred - kpa) / kpa)
    return mae.item(), mape.item()


base_va_mae = float(np.mean(np.abs(median_kpa - load_kpa[va])))
best = (float("inf"), -1, None)
patience, bad = 9, 0
t0 = time.time()
total_epochs = sum(CYCLE_EPOCHS)
for epoch in range(total_epochs):
    perm = mx.array(rng.permutation(len(tr)))
    run = 0.0
    for s in range(STEPS_PER_EPOCH):
        bi = perm[s * BATCH:(s + 1) * BATCH]
        opt.learning_rate = sgdr_lr(epoch, s)
        loss, grads = grad_fn(model, Xtr[bi], Ytr[bi])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    va_mae, va_mape = evaluate(Xva, kpa_va)
    restart = epoch in (CYCLE_EPOCHS[0], CYCLE_EPOCHS[0] + CYCLE_EPOCHS[1])
    rec = {"ep": epoch, "lr_end": round(float(opt.learning_rate.item()), 6), "train_z_mse": round(run / STEPS_PER_EPOCH, 4),
           "val_mae_kpa": round(va_mae, 4), "val_mape_pct": round(va_mape, 2),
           "median_baseline_kpa": round(base_va_mae, 4), "restart": restart}
    print(json.dumps(rec), flush=True)
    if va_mae < best[0] - 1e-4:
        best = (va_mae, epoch, {k: mx.array(v) for k, v in nn.utils.tree_flatten(model.parameters())})
        bad = 0
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "ep": epoch, "best_ep": best[1]}))
            break

model.load_weights(list(best[2].items()))
mx.eval(model.parameters())
te_mae, te_mape = evaluate(Xte, kpa_te)
base_te = float(np.mean(np.abs(median_kpa - load_kpa[te])))
print(json.dumps({"event": "restored", "best_ep": best[1], "best_val_mae_kpa": round(best[0], 4),
                  "test_mae_kpa": round(te_mae, 4), "test_mape_pct": round(te_mape, 2),
                  "test_median_baseline_kpa": round(base_te, 4), "wall_s": round(time.time() - t0, 1)}))
