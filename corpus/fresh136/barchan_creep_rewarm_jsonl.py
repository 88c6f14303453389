"""Barchan dune crest migration rate (m/yr) from field-survey features.

Curriculum over three site groups: calm inland sites first, then sites with
storm seasons, then everything including the noisy coastal transects.  Each
stage gets a fresh AdamW whose learning rate warms up linearly from exactly 0
and then follows a cosine decay (a "re-warm"), so the per-stage step counter
starts again at 0.  Progress is written as one JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1307)


def make_sites(n, storm_share, coastal_share):
    wind = rng.gamma(4.0, 1.6, n) + 3.0                       # m/s at 10 m
    storm = rng.random(n) < storm_share
    wind = wind + storm * rng.gamma(3.0, 2.2, n)
    spread = rng.uniform(0.0, 60.0, n)                        # deg of wind direction spread
    grain = rng.uniform(0.15, 0.55, n)                        # mm median grain
    moist = rng.beta(2.0, 6.0, n)                             # surface moisture fraction
    veg = rng.beta(1.5, 5.0, n)                               # vegetation cover fraction
    height = rng.uniform(2.0, 14.0, n)                        # dune height m
    u_t = 4.0 + 6.0 * grain                                   # threshold speed
    excess = np.clip(wind - u_t, 0.0, None)
    flux = 0.018 * excess ** 3 * np.cos(np.radians(spread)) ** 2
    rate = flux / height * (1.0 - veg) * np.exp(-3.0 * moist) * 9.0
    coastal = rng.random(n) < coastal_share
    noise_sd = 0.6 + coastal * 2.5
    rate = rate + rng.normal(0.0, noise_sd, n)
    x = np.stack([wind, spread, grain, moist, veg, height], axis=1).astype(np.float32)
    return x, rate.astype(np.float32)


stages = [
    ("calm_inland", make_sites(3000, 0.00, 0.0), 300),
    ("storm_season", make_sites(3000, 0.45, 0.0), 300),
    ("all_with_coast", make_sites(4000, 0.30, 0.35), 400),
]
x_val, y_val = make_sites(2000, 0.30, 0.35)

# standardise with the statistics of the pooled training data
x_all = np.concatenate([s[1][0] for s in stages])
y_all = np.concatenate([s[1][1] for s in stages])
x_mu, x_sd = x_all.mean(0), x_all.std(0) + 1e-6
y_mu, y_sd = float(y_all.mean()), float(y_all.std())


def prep(x, y):
    return mx.array((x - x_mu) / x_sd), mx.array((y - y_mu) / y_sd)


xv, yv = prep(x_val, y_val)
base_rmse = float(np.sqrt(np.mean((y_val - y_mu) ** 2)))   # predict-the-mean reference


class CrestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


mx.random.seed(11)
model = CrestNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, mse)

peak_lr, warm = 2e-3, 40
batch = 128
t0 = time.time()
global_step = 0
for stage_name, (xs, ys), n_steps in stages:
    xs_m, ys_m = prep(xs, ys)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, n_steps - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    n = xs_m.shape[0]
    for it in range(n_steps):
        idx = mx.array(rng.integers(0, n, batch))
        lr_now = float(sched(mx.array(it)))
        loss, grads = loss_and_grad(model, xs_m[idx], ys_m[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        global_step += 1
        if it % 50 == 0 or it == n_steps - 1:
            stage_mse = mse(model, xs_m, ys_m)
            val_pred = model(xv) * y_sd + y_mu
            val_rmse = mx.sqrt(mx.mean((val_pred - mx.array(y_val)) ** 2))
            mx.eval(stage_mse, val_rmse)
            print(json.dumps({
                "stage": stage_name,
                "it": it,
                "gstep": global_step,
                "lr": round(lr_now, 7),
                "batch_mse": round(loss.item(), 5),
                "stage_mse": round(stage_mse.item(), 5),
                "val_rmse_m_per_yr": round(val_rmse.item(), 4),
                "mean_baseline_rmse": round(base_rmse, 4),
            }), flush=True)

val_pred = np.array(model(xv) * y_sd + y_mu)
r2 = 1.0 - np.mean((val_pred - y_val) ** 2) / np.var(y_val)
print(json.dumps({"done": True, "steps": global_step, "val_r2": round(float(r2), 4),
                  "wall_s": round(time.time() - t0, 2)}))
