"""Cup-anemometer wind-tunnel calibration.

Learn true wind speed (m/s) from what a cup anemometer logs: rotation rate,
air temperature, pressure, bearing age and a turbulence index.  The factory
transfer function (v = 0.62 * rps + 0.25) is printed next to the net as the
reference.  Training runs in two tunnel campaigns: the low-speed sweep first,
then the full range with gusty runs (the loss jumps when stage 2 starts).
"""
import json
from functools import partial
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(171)

N_TRAIN, N_VAL = 3000, 600


def tunnel_runs(n, vmax, key):
    k1, k2, k3 = mx.random.split(key, 3)
    u = mx.random.uniform(shape=(n, 5), key=k1)
    v = 0.5 + u[:, 0] * (vmax - 0.5)                  # true speed, m/s
    temp = -10.0 + 45.0 * u[:, 1]                      # deg C
    pres = 950.0 + 100.0 * u[:, 2]                     # hPa
    age = 6.0 * u[:, 3]                                # bearing age, years
    turb = 0.25 * u[:, 4] * (vmax / 25.0)              # turbulence intensity
    rho = pres * 100.0 / (287.05 * (temp + 273.15))
    # made-up cup physics: friction threshold grows with age and cold grease,
    # overspeeding in turbulence, slight density dependence
    thresh = 0.3 + 0.08 * age + 0.01 * mx.maximum(0.0 - temp, 0.0)
    rps = mx.maximum(v - thresh, 0.0) / 0.62 * (1.0 + 0.9 * turb ** 2) \
        * (1.0 + 0.04 * (rho - 1.2))
    rps = rps + 0.05 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([rps, temp, pres, age, turb], axis=1)
    y = v + 0.05 * mx.random.normal(shape=(n,), key=k3)
    return x, y


key = mx.random.key(7)
ka, kb, kc, kd = mx.random.split(key, 4)
calm_x, calm_y = tunnel_runs(N_TRAIN, 8.0, ka)
full_x, full_y = tunnel_runs(N_TRAIN, 25.0, kb)
val_x, val_y = tunnel_runs(N_VAL, 25.0, kc)

mu = full_x.mean(axis=0)
sd = full_x.std(axis=0) + 1e-6


def norm(x):
    return (x - mu) / sd


class CupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(norm(x)))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) * 8.0 + 8.0


def factory(x):
    return 0.62 * x[:, 0] + 0.25


model = CupNet()
mx.eval(model.parameters())

EPOCHS = (10, 22)
BATCH = 100
steps_total = sum(EPOCHS) * (N_TRAIN // BATCH)
warm = 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, steps_total - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def compiled(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


from mlx.utils import tree_flatten

# one-time gradient audit: every layer must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, calm_x[:BATCH], calm_y[:BATCH])
for name, g in tree_flatten(g0):
    gn = mx.sqrt((g * g).sum()).item()
    assert gn > 0.0, name

ref_rmse = math.sqrt(((factory(val_x) - val_y) ** 2).mean().item())
t0 = time.time()
gstep = 0
for stage, (n_ep, (tx, ty)) in enumerate(zip(EPOCHS, [(calm_x, calm_y), (full_x, full_y)]), 1):
    for ep in range(1, n_ep + 1):
        perm = mx.random.permutation(N_TRAIN)
        tot = 0.0
        for i in range(0, N_TRAIN, BATCH):
            idx = perm[i:i + BATCH]
            loss = compiled(tx[idx], ty[idx])
            mx.eval(loss, state)
            tot += loss.item()
            gstep += 1
        pred = model(val_x)
        rmse = math.sqrt(((pred - val_y) ** 2).mean().item())
        within = (mx.abs(pred - val_y) < 0.5).mean().item() * 100.0
        print(json.dumps({
            "stage": stage, "epoch": ep, "step": gstep,
            "lr": round(float(opt.learning_rate.item()), 6),
            "huber": round(tot / (N_TRAIN // BATCH), 4),
            "val_rmse_ms": round(rmse, 4),
            "factory_rmse_ms": round(ref_rmse, 4),
            "within_0.5ms_pct": round(within, 1),
        }))

print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1),
                  "final_val_rmse_ms": round(rmse, 4),
                  "factory_rmse_ms": round(ref_rmse, 4)}))
