"""Fairground cotton-candy machine: predict floss yield (g/min) and whether the
sugar scorches, from 7 machine/ambient settings.  Synthetic data, two heads,
Lion optimiser with a warmup from 0 followed by cosine warm restarts, one JSON
line per epoch, early stopping that restores the best validation weights."""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)


def make_batch(n):
    head_c = rng.uniform(150, 190, n)          # heating head temperature (C)
    rpm = rng.uniform(2500, 3800, n)           # spinner speed
    humid = rng.uniform(20, 85, n)             # relative humidity (%)
    grain = rng.uniform(0.2, 1.2, n)           # sugar grain size (mm)
    syrup = rng.uniform(0, 6, n)               # flavour syrup share (%)
    fan = rng.integers(0, 2, n).astype(float)  # bowl fan on/off
    load = rng.uniform(20, 80, n)              # hopper fill (g)
    yield_g = (
        18
        + 0.09 * (head_c - 170)
        - 0.0025 * (head_c - 172) ** 2
        + 0.004 * (rpm - 3000)
        - 0.11 * np.maximum(humid - 45, 0)
        - 4.0 * (grain - 0.6) ** 2
        - 0.6 * syrup
        + 1.5 * fan
        + 0.03 * load
        + rng.normal(0, 0.8, n)
    )
    burn_logit = 0.22 * (head_c - 178) + 0.5 * syrup - 1.2 * fan - 0.002 * (rpm - 3000) - 1.0
    burned = (rng.uniform(size=n) < 1 / (1 + np.exp(-burn_logit))).astype(np.float32)
    X = np.stack([head_c, rpm, humid, grain, syrup, fan, load], 1)
    return X.astype(np.float32), yield_g.astype(np.float32), burned


Xtr, ytr, btr = make_batch(3000)
Xva, yva, bva = make_batch(700)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_n, yva_n = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
btr_m, bva_m = mx.array(btr), mx.array(bva)


class FlossNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(7, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.yield_head = nn.Linear(64, 1)
        self.burn_head = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.yield_head(h).squeeze(-1), self.burn_head(h).squeeze(-1)


def losses(model, x, y, b):
    pred_y, logit_b = model(x)
    hub = nn.losses.huber_loss(pred_y, y, delta=1.0, reduction="mean")
    bce = nn.losses.binary_cross_entropy(logit_b, b, with_logits=True, reduction="mean")
    return hub, bce


def total_loss(model, x, y, b):
    hub, bce = losses(model, x, y, b)
    return hub + 0.5 * bce, (hub, bce)


mx.random.seed(3)
model = FlossNet()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
loss_and_grad = nn.value_and_grad(model, total_loss)

BATCH = 128
WARMUP = 60          # optimiser steps, lr goes 0 -> PEAK
PEAK = 6e-4
CYCLE_EPOCHS = 7     # cosine warm restart every 7 epochs
steps_per_epoch = math.ceil(len(Xtr) / BATCH)   # last batch kept (3000 % 128 = 56)


def lr_at(step, epoch):
    if step < WARMUP:
        return PEAK * step / WARMUP
    pos = (epoch % CYCLE_EPOCHS) / CYCLE_EPOCHS
    return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * pos))


def evaluate(model):
    pred_y, logit_b = model(Xva_n)
    mae_g = mx.mean(mx.abs(pred_y - yva_n)) * float(ysd)
    acc = mx.mean(((logit_b > 0).astype(mx.float32) == bva_m).astype(mx.float32)) * 100
    mx.eval(mae_g, acc)
    return mae_g.item(), acc.item()


# sanity: every trainable tensor gets a gradient on the first batch
_, g0 = loss_and_grad(model, Xtr_n[:BATCH], ytr_n[:BATCH], btr_m[:BATCH])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

base_mae = float(np.mean(np.abs(yva - ymu)))
base_acc = float(max(bva.mean(), 1 - bva.mean()) * 100)
print(json.dumps({"event": "baseline", "val_mae_g_per_min": round(base_mae, 3),
                  "val_burn_acc_pct": round(base_acc, 2)}))

best_mae, best_params, best_epoch, bad = float("inf"), None, -1, 0
PATIENCE = 6
step = 0
for epoch in range(60):
    perm = mx.array(rng.permutation(len(Xtr)))
    sum_hub = sum_bce = 0.0
    seen = 0
    for s in range(0, len(Xtr), BATCH):
        idx = perm[s:s + BATCH]
        xb, yb, bb = Xtr_n[idx], ytr_n[idx], btr_m[idx]
        opt.learning_rate = lr_at(step, epoch)
        (_, (hub, bce)), grads = loss_and_grad(model, xb, yb, bb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, hub, bce)
        n = idx.shape[0]
        sum_hub += hub.item() * n
        sum_bce += bce.item() * n
        seen += n
        step += 1
    mae, acc = evaluate(model)
    improved = mae < best_mae - 1e-4
    if improved:
        best_mae, best_epoch, bad = mae, epoch, 0
        best_params = tree_map(lambda p: p, model.parameters())
    else:
        bad += 1
    print(json.dumps({
        "ep": epoch, "cycle": epoch // CYCLE_EPOCHS, "lr": round(float(opt.learning_rate.item()), 7),
        "seen": seen, "train_huber": round(sum_hub / seen, 4), "train_bce": round(sum_bce / seen, 4),
        "val_mae_g_per_min": round(mae, 3), "val_burn_acc_pct": round(acc, 2),
        "best": improved, "patience_left": PATIENCE - bad,
    }))
    if bad >= PATIENCE:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
        break

model.update(best_params)
mx.eval(model.parameters())
mae, acc = evaluate(model)
print(json.dumps({"event": "restored", "from_epoch": best_epoch, "val_mae_g_per_min": round(mae, 3),
                  "val_burn_acc_pct": round(acc, 2), "baseline_mae": round(base_mae, 3),
                  "baseline_acc_pct": round(base_acc, 2)}))
