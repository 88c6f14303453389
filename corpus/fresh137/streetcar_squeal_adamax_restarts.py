"""Streetcar curve squeal: predict the A-weighted squeal level (dB) at the
trackside microphone from six readings of a tram passing a curve.

Adamax with a hand-rolled schedule: linear warm-up from exactly 0, then
cosine cycles with warm restarts (each cycle starts at a lower peak).
Progress is written as JSON lines so it can be piped into jq.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1907)


def make_passes(n):
    radius = rng.uniform(15.0, 300.0, n)          # m
    speed = rng.uniform(5.0, 40.0, n)             # km/h
    lubed = (rng.random(n) < 0.4).astype(np.float64)
    humidity = rng.uniform(20.0, 95.0, n)         # %
    wear = rng.gamma(2.0, 0.8, n)                 # mm flange wear
    rail_t = rng.normal(18.0, 9.0, n)             # deg C
    tight = 1.0 / (1.0 + np.exp(-(60.0 - radius) / 14.0))
    db = (61.0
          + 21.0 * tight * (1.0 - 0.65 * lubed) * (1.0 + 0.01 * (speed - 20.0))
          + 0.22 * speed
          - 4.0 * np.tanh((humidity - 60.0) / 15.0) * tight
          + 1.6 * wear
          + 0.05 * np.abs(rail_t - 15.0)
          + rng.normal(0.0, 1.4, n))
    X = np.stack([radius, speed, lubed, humidity, wear, rail_t], axis=1)
    return X.astype(np.float32), db.astype(np.float32)


Xtr, ytr = make_passes(4000)
Xva, yva = make_passes(1000)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_z = mx.array((Xtr - mu) / sd)
Xva_z = mx.array((Xva - mu) / sd)
ytr_z = mx.array((ytr - ymu) / ysd)
yva_db = mx.array(yva)
baseline_mae = float(np.mean(np.abs(yva - ymu)))   # always predict the train mean


class SquealNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = SquealNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off audit: every parameter must receive gradient
_, g0 = loss_and_grad(model, Xtr_z[:256], ytr_z[:256])
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "n_params": len(norms),
                  "min_grad_norm": round(min(norms.values()), 6)}))

opt = optim.Adamax(learning_rate=0.0)

WARM = 25
CYCLES = [(160, 0.012), (160, 0.008), (160, 0.005), (160, 0.003)]
BATCH = 128


def lr_at(step_in_cycle, cycle_idx, length, peak):
    if cycle_idx == 0 and step_in_cycle < WARM:
        return peak * step_in_cycle / WARM          # step 0 -> exactly 0
    t = step_in_cycle - (WARM if cycle_idx == 0 else 0)
    T = length - (WARM if cycle_idx == 0 else 0)
    return 0.5 * peak * (1.0 + math.cos(math.pi * t / T)) + 1e-5


def val_mae_db():
    pred = model(Xva_z) * ysd + ymu
    return float(mx.mean(mx.abs(pred - yva_db)))


t0 = time.time()
global_step = 0
n = Xtr_z.shape[0]
for ci, (length, peak) in enumerate(CYCLES):
    run = []
    for s in range(length):
        opt.learning_rate = mx.array(lr_at(s, ci, length, peak))
        idx = mx.array(rng.integers(0, n, BATCH))
        loss, grads = loss_and_grad(model, Xtr_z[idx], ytr_z[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        global_step += 1
        if s % 20 == 0 or s == length - 1:
            print(json.dumps({
                "step": global_step, "cycle": ci, "cycle_step": s,
                "lr": round(float(opt.learning_rate), 6),
                "train_mse_z": round(float(np.mean(run[-20:])), 4),
                "val_mae_dB": round(val_mae_db(), 3),
                "baseline_mae_dB": round(baseline_mae, 3),
            }))
    print(json.dumps({"event": "cycle_end", "cycle": ci,
                      "val_mae_dB": round(val_mae_db(), 3),
                      "elapsed_s": round(time.time() - t0, 2)}))

final = val_mae_db()
print(json.dumps({"event": "done", "steps": global_step,
                  "val_mae_dB": round(final, 3),
                  "baseline_mae_dB": round(baseline_mae, 3),
                  "skill_pct": round(100.0 * (1.0 - final / baseline_mae), 1)}))
