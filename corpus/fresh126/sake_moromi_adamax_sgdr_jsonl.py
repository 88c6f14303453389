# Sake brewery notebook: predict the finished moromi's alcohol (ABV %) and
# nihonshu-do (SMV) from the brew sheet. Adamax, warmup from 0 then SGDR.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1701)


def brew_sheets(n):
    polish = rng.uniform(35, 70, n)          # seimaibuai, % of grain left
    koji = rng.uniform(18, 26, n)            # koji rice share, %
    peak_t = rng.uniform(8, 15, n)           # moromi peak temperature, C
    days = rng.uniform(18, 35, n)            # moromi length, days
    hard = rng.uniform(20, 160, n)           # water hardness, mg/L
    yeast = rng.integers(0, 3, n)            # kyokai 7 / 9 / 1801
    abv = (14.2 + 0.11 * (days - 18) + 0.35 * (peak_t - 8)
           - 0.004 * (peak_t - 11.5) ** 2 * days + 0.012 * hard
           - 0.018 * (polish - 50) + np.array([0.0, 0.4, 0.9])[yeast]
           + 0.25 * np.sin(koji / 2.0))
    abv = np.minimum(abv, 20.5) + rng.normal(0, 0.18, n)
    smv = (-4 + 0.45 * (days - 18) + 0.6 * (peak_t - 8) - 0.09 * (koji - 22) ** 2
           + 0.02 * hard + np.array([0.0, 1.5, -1.0])[yeast]
           + 0.8 * np.tanh((abv - 17) * 1.5)) + rng.normal(0, 0.5, n)
    x = np.stack([polish, koji, peak_t, days, hard], 1)
    x = np.concatenate([x, np.eye(3)[yeast]], 1)
    y = np.stack([abv, smv], 1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = brew_sheets(6000)
xva, yva = brew_sheets(600)
xm, xs = xtr[:, :5].mean(0), xtr[:, :5].std(0)
xtr[:, :5] = (xtr[:, :5] - xm) / xs
xva[:, :5] = (xva[:, :5] - xm) / xs
ym, ys = ytr.mean(0), ytr.std(0)
Xtr, Ytr = mx.array(xtr), mx.array((ytr - ym) / ys)
Xva, Yva = mx.array(xva), mx.array((yva - ym) / ys)
YS = mx.array(ys)


class BrewNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


mx.random.seed(3)
model = BrewNet()
mx.eval(model.parameters())

BATCH = 100
STEPS_PER_EPOCH = xtr.shape[0] // BATCH
warm, c1, c2 = 2 * STEPS_PER_EPOCH, 8 * STEPS_PER_EPOCH, 16 * STEPS_PER_EPOCH
peak = 1.5e-2
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm),
     optim.cosine_decay(peak, c1, 1e-5),
     optim.cosine_decay(peak, c2, 1e-5)],
    [warm, warm + c1],
)
opt = optim.Adamax(learning_rate=schedule)
EPOCHS = (warm + c1 + c2) // STEPS_PER_EPOCH


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every weight gets a gradient
_, g0 = grad_fn(model, Xtr[:BATCH], Ytr[:BATCH])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)),
                  "all_zero": zero}))

base_mae = np.abs(yva - ytr.mean(0)).mean(0)   # predict-the-mean reference
p0 = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}

t0 = time.time()
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(xtr.shape[0]))
    run = 0.0
    lr_first = float(schedule(opt.step))
    for b in range(STEPS_PER_EPOCH):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        lr_now = float(schedule(opt.step))
        loss, grads = grad_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    pred = model(Xva)
    mae = mx.mean(mx.abs(pred - Yva), axis=0) * YS
    vloss = loss_fn(model, Xva, Yva)
    mx.eval(mae, vloss)
    mae = np.array(mae)
    print(json.dumps({
        "ep": ep + 1, "lr_first": round(lr_first, 6), "lr_last": round(lr_now, 6),
        "train_mse_z": round(run / STEPS_PER_EPOCH, 4),
        "val_mse_z": round(vloss.item(), 4),
        "abv_mae_pts": round(float(mae[0]), 3), "abv_mae_ref": round(float(base_mae[0]), 3),
        "smv_mae": round(float(mae[1]), 3), "smv_mae_ref": round(float(base_mae[1]), 3),
    }))

drift = math.sqrt(sum(float(mx.sum((v - p0[k]) ** 2)) for k, v in tree_flatten(model.parameters())))
print(json.dumps({"event": "done", "epochs": EPOCHS, "updates": int(opt.step),
                  "param_drift_l2": round(drift, 3), "secs": round(time.time() - t0, 1)}))
