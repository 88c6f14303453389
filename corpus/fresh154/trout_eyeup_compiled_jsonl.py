"""Trout hatchery: predict days until an egg tray reaches the 'eyed' stage.

Synthetic hatchery records: water temperature, dissolved oxygen, egg diameter,
female age, formalin treatment flag, flow rate through the tray.
Warmup from lr=0, compiled train step, JSON-lines log, early stopping with
restore of the best weights.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)


def make_trays(n):
    temp = rng.uniform(4.0, 13.0, n)          # degC
    oxygen = rng.uniform(6.5, 11.5, n)        # mg/L
    diam = rng.normal(5.2, 0.4, n)            # mm
    age = rng.integers(2, 6, n).astype(np.float64)  # years
    formalin = (rng.random(n) < 0.5).astype(np.float64)
    flow = rng.uniform(8.0, 20.0, n)          # L/min
    # roughly 220 degree-days to eye-up, slowed by low oxygen and big eggs
    dd = 220.0 + 18.0 * (diam - 5.2) - 6.0 * (oxygen - 9.0) + 4.0 * (age - 3.5)
    days = dd / temp * (1.0 + 0.04 * formalin) - 0.15 * (flow - 14.0)
    days = days + rng.normal(0.0, 0.8, n)
    X = np.stack([temp, oxygen, diam, age, formalin, flow], axis=1)
    return X.astype(np.float32), days.astype(np.float32)


Xtr, ytr = make_trays(1600)
Xva, yva = make_trays(400)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_n = mx.array((ytr - ymu) / ysd)
yva_days = mx.array(yva)


class EyeUpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(11)
model = EyeUpNet()
steps_per_epoch = 25
total_steps = 60 * steps_per_epoch
warm = 100
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total_steps - warm, 1e-5)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_mae_days():
    pred = model(Xva_n) * ysd + ymu
    return mx.mean(mx.abs(pred - yva_days)).item()


# audit: every trainable tensor gets a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_n[:128], ytr_n[:128])
gnorms = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "min_norm": round(min(gnorms.values()), 6),
                  "tensors": len(gnorms)}))

baseline_mae = float(np.mean(np.abs(yva - ytr.mean())))
best_mae, best_params, best_epoch, patience, bad = math.inf, None, -1, 8, 0
batch = 64
t0 = time.time()
for epoch in range(60):
    perm = mx.array(rng.permutation(Xtr.shape[0])[: steps_per_epoch * batch])
    run = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * batch:(s + 1) * batch]
        loss = train_step(Xtr_n[idx], ytr_n[idx])
        mx.eval(state, loss)
        run += loss.item()
    mae = val_mae_days()
    improved = mae < best_mae - 1e-3
    if improved:
        best_mae, best_epoch, bad = mae, epoch, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
    print(json.dumps({"epoch": epoch, "step": opt.step.item(),
                      "lr": round(float(opt.learning_rate.item()), 7),
                      "huber": round(run / steps_per_epoch, 5),
                      "val_mae_d": round(mae, 3), "mean_guess_mae_d": round(baseline_mae, 3),
                      "best": improved}))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
        break

model.update(best_params)
mx.eval(model.parameters())
final = val_mae_days()
print(json.dumps({"event": "restored", "best_epoch": best_epoch, "val_mae_d": round(final, 3),
                  "mean_guess_mae_d": round(baseline_mae, 3),
                  "skill_pct": round(100 * (1 - final / baseline_mae), 1),
                  "secs": round(time.time() - t0, 1)}))
