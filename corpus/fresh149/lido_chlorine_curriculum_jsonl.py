"""Public pool (lido) plant room: predict free-chlorine residual two hours after dosing.

Readings per record: bather load, UV index, water temperature, cyanuric acid,
hypochlorite dose, pH.  Stage "calm" trains on quiet overcast days only; stage
"busy" then mixes in crowded heatwave afternoons, which are harder, so the
validation error on the full set goes up for a while before it comes down.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(149)


def make_days(n, busy):
    bathers = rng.uniform(5, 60, n) if not busy else rng.uniform(60, 220, n)
    uv = rng.uniform(0, 3, n) if not busy else rng.uniform(5, 10, n)
    temp = rng.uniform(24, 27, n) if not busy else rng.uniform(27, 31, n)
    cya = rng.uniform(10, 80, n)
    dose = rng.uniform(0.5, 4.0, n)
    ph = rng.uniform(7.0, 7.8, n)
    # made-up plant-room law (ppm)
    decay = 0.004 * bathers + 0.09 * uv * np.exp(-cya / 45.0) + 0.03 * (temp - 24)
    active = 1.0 / (1.0 + 10 ** (ph - 7.5))
    resid = dose * np.exp(-decay * 2.0) * (0.6 + 0.4 * active) + 0.15
    resid += rng.normal(0, 0.05 + 0.02 * busy, n)
    x = np.stack([bathers / 100, uv / 5, (temp - 27) / 2, cya / 50, dose / 2, (ph - 7.4) * 4], 1)
    return x.astype(np.float32), resid.astype(np.float32)[:, None]


xc, yc = make_days(3000, busy=False)
xb, yb = make_days(3000, busy=True)
xv1, yv1 = make_days(500, False)
xv2, yv2 = make_days(500, True)
xv = mx.array(np.concatenate([xv1, xv2]))
yv = mx.array(np.concatenate([yv1, yv2]))
baseline_mse = float(((yv - yv.mean()) ** 2).mean())

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())

STEPS_PER_STAGE = 600
TOTAL = 2 * STEPS_PER_STAGE
warm = optim.linear_schedule(0.0, 0.05, 150)
cos = optim.cosine_decay(0.05, TOTAL - 150, end=0.002)
opt = optim.SGD(learning_rate=optim.join_schedules([warm, cos], [150]), momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def batches(x, y, bs):
    while True:
        idx = rng.permutation(len(x))
        for i in range(0, len(x) - bs + 1, bs):
            j = idx[i:i + bs]
            yield mx.array(x[j]), mx.array(y[j])


t0 = time.time()
step = 0
for stage, (sx, sy) in enumerate([(xc, yc), (np.concatenate([xc, xb]), np.concatenate([yc, yb]))]):
    name = ["calm", "busy"][stage]
    gen = batches(sx, sy, 64)
    run = 0.0
    for k in range(STEPS_PER_STAGE):
        x, y = next(gen)
        loss = train_step(x, y)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if (k + 1) % 100 == 0:
            val = nn.losses.mse_loss(model(xv), yv).item()
            rec = {
                "stage": name,
                "k": k + 1,
                "lr": round(float(opt.learning_rate), 5),
                "train_mse": round(run / 100, 5),
                "val_rmse_ppm": round(math.sqrt(val), 4),
                "mean_guess_rmse_ppm": round(math.sqrt(baseline_mse), 4),
            }
            print(json.dumps(rec), flush=True)
            run = 0.0

pred = model(xv)
r2 = 1.0 - float(((pred - yv) ** 2).mean()) / baseline_mse
print(json.dumps({"done": step, "r2": round(r2, 4), "secs": round(time.time() - t0, 1)}))
