# Stay-cable vibration monitor: predict peak deck-anchor acceleration (mg) of a
# bridge stay cable from weather / traffic readings.  Stage "dry" first, then
# the harder "rain-wind" stage where rivulets trigger large-amplitude galloping.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(135)
mx.random.seed(135)


def make_cables(n, wet):
    wind = rng.uniform(2, 22, n)                 # m/s
    yaw = rng.uniform(0, 60, n)                  # deg between wind and cable plane
    rain = rng.gamma(1.5, 2.0, n) * wet          # mm/h (0 when dry)
    length = rng.uniform(80, 260, n)             # m
    damper = rng.uniform(0, 1, n)                # damper setting 0..1
    temp = rng.uniform(-5, 30, n)                # C
    traffic = rng.uniform(0, 1, n)               # share of heavy lanes busy
    base = 4 + 0.09 * wind ** 1.6 * (1 - 0.5 * damper) + 6 * traffic + 0.02 * length
    yaw_window = np.exp(-((yaw - 32) / 9) ** 2)
    rivulet = rain / (1 + rain) * yaw_window * np.clip(wind - 6, 0, None) ** 1.3
    peak = base + 9 * rivulet * (1.2 - damper) + 0.04 * temp + rng.normal(0, 1.5, n)
    X = np.stack([wind / 22, yaw / 60, np.log1p(rain), length / 260, damper,
                  temp / 30, traffic], 1).astype(np.float32)
    return X, peak.astype(np.float32)


Xd, yd = make_cables(6000, 0.0)
Xw, yw = make_cables(6000, 1.0)
mu_y, sd_y = float(yd.mean()), float(yd.std())   # target scaling fixed from stage 1


class CableNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = CableNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


lag = nn.value_and_grad(model, loss_fn)

stages = [
    # name, train X, train y, steps
    ("dry", Xd[:5000], yd[:5000], 700),
    ("rain_wind", np.concatenate([Xd[:5000], Xw[:5000]]),
     np.concatenate([yd[:5000], yw[:5000]]), 900),
]
val = {"dry": (mx.array(Xd[5000:]), yd[5000:]),
       "wet": (mx.array(Xw[5000:]), yw[5000:])}
BATCH = 128
t0 = time.time()
for name, Xs, ys, steps in stages:
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)
    ysn = (ys - mu_y) / sd_y
    run = 0.0
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(Xs), BATCH)
        loss, grads = lag(model, mx.array(Xs[idx]), mx.array(ysn[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if step % 100 == 0 or step == 1:
            rec = {"stage": name, "step": step, "lr": round(float(opt.learning_rate.item()), 6),
                   "train_mse_z": round(run / (1 if step == 1 else 100), 4)}
            for vname, (vx, vy) in val.items():
                pred = np.array(model(vx)) * sd_y + mu_y
                rec[f"{vname}_rmse_mg"] = round(float(np.sqrt(np.mean((pred - vy) ** 2))), 3)
                rec[f"{vname}_mean_only_mg"] = round(float(np.sqrt(np.mean((vy.mean() - vy) ** 2))), 3)
            print(json.dumps(rec), flush=True)
            run = 0.0

pred = np.array(model(val["wet"][0])) * sd_y + mu_y
print(json.dumps({"done": True, "wall_s": round(time.time() - t0, 1),
                  "wet_rmse_mg": round(float(np.sqrt(np.mean((pred - yw[5000:]) ** 2))), 3),
                  "wet_r2": round(1 - float(np.mean((pred - yw[5000:]) ** 2) / np.var(yw[5000:])), 4)}))
