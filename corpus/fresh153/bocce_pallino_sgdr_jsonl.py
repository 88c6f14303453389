"""Bocce practice log: predict how far (cm) a thrown ball stops from the pallino.

Synthetic court data, small MLP, AdamW under warm-restart schedule (each cycle ramps
linearly up from lr 0.0, then cosine-decays), compiled train step, JSON lines out.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

mx.random.seed(11)

N_TRAIN, N_VAL = 3200, 800
FEATS = ["release_speed_ms", "backspin_rps", "court_slope_deg", "surface_friction",
         "ball_mass_kg", "pallino_dist_m"]


def make_throws(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    speed = 2.0 + 3.0 * u[:, 0]
    spin = 4.0 * u[:, 1] - 2.0
    slope = 3.0 * u[:, 2] - 1.5
    fric = 0.08 + 0.10 * u[:, 3]
    mass = 0.90 + 0.20 * u[:, 4]
    target = 4.0 + 10.0 * u[:, 5]
    # made-up roll law: distance travelled ~ v^2 / (2 mu g), nudged by spin and slope
    travelled = speed ** 2 / (2.0 * fric * 9.81) * (1.0 - 0.04 * spin) * (1.0 + 0.03 * slope) / mass ** 0.2
    miss_cm = 100.0 * mx.abs(travelled - target) ** 0.8 + 6.0 * mx.random.normal((n,), key=k2)
    x = mx.stack([speed, spin, slope, fric, mass, target], axis=1)
    return x, miss_cm


xtr, ytr = make_throws(N_TRAIN, mx.random.key(1))
xva, yva = make_throws(N_VAL, mx.random.key(2))
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
xtr_n, xva_n = (xtr - mu) / sd, (xva - mu) / sd
ytr_n = (ytr - ymu) / ysd

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())

# warm restarts: cycles of 100, 200, 400 steps; each begins at lr exactly 0
cycles = [100, 200, 400]
peak = 4e-3
pieces, bounds, acc = [], [], 0
for i, c in enumerate(cycles):
    ramp = 12
    pieces.append(optim.linear_schedule(0.0, peak, ramp))
    pieces.append(optim.cosine_decay(peak, c - ramp, end=2e-5))
    acc += ramp
    bounds.append(acc)
    acc += c - ramp
    if i < len(cycles) - 1:
        bounds.append(acc)
lr_sched = optim.join_schedules(pieces, bounds)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x).squeeze(-1), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = model(xva_n).squeeze(-1) * ysd + ymu
    err = pred - yva
    return mx.abs(err).mean().item(), mx.sqrt((err ** 2).mean()).item()


baseline_mae = mx.abs(yva - ymu).mean().item()
total = sum(cycles)
bs = 64
t0 = time.time()
cycle_starts = [0, cycles[0], cycles[0] + cycles[1]]
best = (float("inf"), -1)
for step in range(total):
    if step % (N_TRAIN // bs) == 0:
        perm = mx.random.permutation(N_TRAIN)
    j = step % (N_TRAIN // bs)
    idx = perm[j * bs:(j + 1) * bs]
    lr_now = opt.learning_rate.item()
    loss = train_step(xtr_n[idx], ytr_n[idx])
    mx.eval(state, loss)
    cyc = sum(1 for s in cycle_starts if step >= s)
    if step % 25 == 0 or step == total - 1 or step in cycle_starts:
        mae, rmse = val_metrics()
        if mae < best[0]:
            best = (mae, step)
        print(json.dumps({"step": step, "cycle": cyc, "cycle_step": step - cycle_starts[cyc - 1],
                          "lr": round(lr_now, 6), "huber": round(loss.item(), 4),
                          "val_mae_cm": round(mae, 2), "val_rmse_cm": round(rmse, 2),
                          "mean_guess_mae_cm": round(baseline_mae, 2)}))
mae, rmse = val_metrics()
print(json.dumps({"event": "done", "steps": total, "secs": round(time.time() - t0, 1),
                  "val_mae_cm": round(mae, 2), "best_val_mae_cm": round(best[0], 2),
                  "best_step": best[1], "mean_guess_mae_cm": round(baseline_mae, 2),
                  "skill_pct": round(100 * (1 - mae / baseline_mae), 1)}))
