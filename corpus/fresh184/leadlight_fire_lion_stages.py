# Stained-glass studio: predict paint-firing outcome (0 underfired, 1 good, 2 overfired)
# from 7 kiln log readings. Two-stage curriculum: stage "clean" uses tidy logs,
# stage "field" adds thermocouple dropout + drift (harder, loss jumps up at the switch).
# Lion optimiser, lr warmed up from exactly 0 each stage, early stopping with restore.
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)
FEATS = ["peak_C", "soak_min", "ramp_C_per_h", "cool_C_per_h", "paint_mm", "glass_mm", "vent_open"]


def kiln_logs(n, field=False):
    peak = rng.normal(650, 25, n)
    soak = rng.uniform(0, 20, n)
    ramp = rng.uniform(150, 450, n)
    cool = rng.uniform(50, 250, n)
    paint = rng.uniform(0.02, 0.2, n)
    glass = rng.uniform(2, 6, n)
    vent = rng.integers(0, 2, n).astype(np.float64)
    heat = (peak - 650) / 12 + 0.15 * soak - ramp / 300 - 8 * paint - 0.2 * glass + 0.6 * vent
    heat = heat + rng.normal(0, 0.5, n)
    y = np.where(heat < -1.2, 0, np.where(heat > 1.6, 2, 1))
    X = np.stack([peak, soak, ramp, cool, paint, glass, vent], 1)
    if field:
        X[:, 0] += rng.normal(0, 12, n)               # thermocouple drift
        drop = rng.random((n, 7)) < 0.12               # missing readings
        X = np.where(drop, np.nan, X)
    return X, y


mu = np.array([650, 10, 300, 150, 0.11, 4, 0.5])
sd = np.array([25, 5.8, 87, 58, 0.05, 1.15, 0.5])


def prep(X):
    Z = (X - mu) / sd
    miss = np.isnan(Z)
    Z = np.where(miss, 0.0, Z)
    return mx.array(np.concatenate([Z, miss.astype(np.float64)], 1).astype(np.float32))


class FireNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(14, 48)
        self.norm = nn.LayerNorm(48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.l1(x)))
        return self.out(nn.gelu(self.l2(h)) + h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = FireNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)

STAGES = [("clean", False, 180, 3e-4), ("field", True, 400, 2e-4)]
BATCH = 64
best_overall = None
for stage_name, field, max_steps, peak_lr in STAGES:
    Xtr, ytr = kiln_logs(2400, field)
    Xva, yva = kiln_logs(600, field)
    xtr, ytr_m = prep(Xtr), mx.array(ytr)
    xva, yva_m = prep(Xva), mx.array(yva)
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm), optim.cosine_decay(peak_lr, max_steps - warm, peak_lr * 0.05)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    best_val, best_params, bad, patience = math.inf, None, 0, 6
    for step in range(max_steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
        loss, grads = loss_and_grad(model, xtr[idx], ytr_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == max_steps - 1:
            logits = model(xva)
            vloss = nn.losses.cross_entropy(logits, yva_m, reduction="mean")
            vacc = mx.mean(mx.argmax(logits, 1) == yva_m)
            gnorm = math.sqrt(sum(float((g * g).sum()) for _, g in tree_flatten(grads)))
            rec = {"stage": stage_name, "step": step, "lr": round(float(opt.learning_rate), 7),
                   "train_xent": round(loss.item(), 4), "val_xent": round(vloss.item(), 4),
                   "val_acc_pct": round(100 * vacc.item(), 1), "grad_l2": round(gnorm, 4),
                   "majority_baseline_pct": round(100 * np.bincount(yva).max() / len(yva), 1)}
            print(json.dumps(rec), flush=True)
            if vloss.item() < best_val - 1e-4:
                best_val, bad = vloss.item(), 0
                best_params = tree_map(lambda p: mx.array(p), model.parameters())
            else:
                bad += 1
                if bad >= patience:
                    print(json.dumps({"stage": stage_name, "event": "early_stop", "step": step, "best_val_xent": round(best_val, 4)}))
                    break
    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(xva)
    print(json.dumps({"stage": stage_name, "event": "restored", "val_xent": round(loss_fn(model, xva, yva_m).item(), 4),
                      "val_acc_pct": round(100 * mx.mean(mx.argmax(logits, 1) == yva_m).item(), 1)}))

Xte, yte = kiln_logs(1000, True)
acc = mx.mean(mx.argmax(model(prep(Xte)), 1) == mx.array(yte)).item()
print(json.dumps({"event": "final", "test_acc_pct": round(100 * acc, 1),
                  "majority_baseline_pct": round(100 * np.bincount(yte).max() / len(yte), 1)}))
