# Office tower lift lobby: predict passenger wait (seconds) at the ground-floor
# call button.  Stage "offpeak" first, then the morning rush is mixed in.
# AdamW, learning rate ramps linearly up from exactly 0, compiled train step.
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.RandomState(1702)


def lobby_log(n, rush):
    hour = rs.uniform(7.0, 10.0, n) if rush else rs.uniform(10.5, 17.0, n)
    cars_free = rs.randint(0, 5, n).astype(np.float32)          # of 4 cars... 0-4 idle
    queue = rs.poisson(14 if rush else 3, n).astype(np.float32)  # people waiting
    car_floor = rs.uniform(0, 30, n)                              # nearest car position
    express = rs.binomial(1, 0.3, n).astype(np.float32)
    wait = (4.0 + 0.9 * car_floor / (1 + cars_free) + 1.6 * queue * (1 - 0.4 * express)
            + 0.08 * queue ** 2 / (1 + cars_free) + rs.normal(0, 3.0, n))
    X = np.stack([np.sin(hour / 24 * 2 * np.pi), np.cos(hour / 24 * 2 * np.pi),
                  cars_free / 4, queue / 10, car_floor / 30, express], 1).astype(np.float32)
    return X, np.maximum(wait, 1.0).astype(np.float32)[:, None]


Xo, yo = lobby_log(2400, rush=False)
Xr, yr = lobby_log(1600, rush=True)
Xv = np.concatenate([Xo[-400:], Xr[-400:]]); yv = np.concatenate([yo[-400:], yr[-400:]])
Xo, yo, Xr, yr = Xo[:-400], yo[:-400], Xr[:-400], yr[:-400]
Y_SCALE = 30.0

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
TOTAL = 1400
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 200),
                              optim.cosine_decay(3e-3, TOTAL - 200, 1e-4)], [200])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def huber(pred, y):
    return nn.losses.huber_loss(pred, y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = nn.value_and_grad(model, lambda xb, yb: huber(model(xb), yb))(x, y)
    opt.update(model, g)
    return loss, g


Xv_m, yv_m = mx.array(Xv), mx.array(yv)
rush_mask = np.arange(len(yv)) >= 400
t0 = time.time()
for step in range(1, TOTAL + 1):
    stage = "offpeak" if step <= 500 else "rush_mixed"
    if stage == "offpeak":
        idx = rs.randint(0, len(yo), 128)
        xb, yb = Xo[idx], yo[idx]
    else:
        io = rs.randint(0, len(yo), 64); ir = rs.randint(0, len(yr), 64)
        xb, yb = np.concatenate([Xo[io], Xr[ir]]), np.concatenate([yo[io], yr[ir]])
    loss, g = train_step(mx.array(xb), mx.array(yb / Y_SCALE))
    mx.eval(loss, model.parameters(), opt.state)
    if step == 1:
        zero = [k for k, v in nn.utils.tree_flatten(g) if mx.all(v == 0).item()]
        print(json.dumps({"event": "grad_audit", "tensors": len(nn.utils.tree_flatten(g)),
                          "all_zero": zero, "lr": float(sched(mx.array(0)))}))
    if step == 1 or step % 100 == 0:
        pred = np.array(model(Xv_m)) * Y_SCALE
        mae = np.abs(pred - yv)[:, 0]
        base_o = np.abs(yv[~rush_mask] - yo.mean()).mean()
        base_r = np.abs(yv[rush_mask] - yo.mean()).mean()
        print(json.dumps({"step": step, "stage": stage, "lr": round(float(opt.learning_rate), 6),
                          "huber": round(loss.item(), 4),
                          "mae_s_offpeak": round(float(mae[~rush_mask].mean()), 2),
                          "mae_s_rush": round(float(mae[rush_mask].mean()), 2),
                          "ref_mean_offpeak": round(float(base_o), 2),
                          "ref_mean_rush": round(float(base_r), 2)}))
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 1)}))
