"""Salt-pan harvest yield (kg per m2) from six pan-log readings.

Learning rate: linear warm-up from 0.0, then held flat. Instead of decaying the
learning rate, the minibatch grows x4 at each stage (32 -> 128 -> 512).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL = 20000, 3000
NOISE_SD = 0.30


def make_pans(n):
    brine = rng.uniform(1.10, 1.26, n)        # brine density g/cm3
    sun = rng.uniform(4.0, 13.0, n)            # sun hours per day
    wind = rng.gamma(2.0, 2.5, n)              # m/s
    rain = rng.poisson(2.0, n).astype(float)   # rain days in the window
    depth = rng.uniform(2.0, 9.0, n)           # pan depth cm
    days = rng.uniform(5.0, 40.0, n)           # days since flooding
    evap = 0.18 * sun + 0.09 * np.sqrt(wind) * sun / 6.0
    sat = 1.0 / (1.0 + np.exp(-(brine - 1.19) * 60.0))
    y = (
        2.2 * sat * np.log1p(evap * days / depth)
        - 0.35 * rain * (1.0 - 0.5 * sat)
        + 0.04 * (depth - 5.0)
    )
    y = y + rng.normal(0.0, NOISE_SD, n)
    x = np.stack([brine, sun, wind, rain, depth, days], 1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_pans(N_TRAIN)
xva, yva = make_pans(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)
base_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))


class PanNet(nn.Module):
    def __init__(self, d_in=6, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)
        self.skip = nn.Linear(d_in, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return (self.out(h) + self.skip(x)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = PanNet()
mx.eval(model.parameters())

PEAK = 0.02
WARM = 120
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), lambda s: mx.full(s.shape, PEAK)], [WARM]
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9)
loss_and_grad = nn.value_and_grad(model, loss_fn)

STAGES = [("rake-A", 32, 700), ("rake-B", 128, 600), ("rake-C", 512, 500)]
REPORT = 100


def val_rmse():
    p = model(Xva)
    return float(mx.sqrt(mx.mean((p - Yva) ** 2)))


print({"event": "data", "train": N_TRAIN, "val": N_VAL, "noise_sd": NOISE_SD,
       "predict_mean_rmse": round(base_rmse, 4)})
print({"event": "untrained", "val_rmse": round(val_rmse(), 4)})

t0 = time.time()
step = 0
for name, bs, n_steps in STAGES:
    print({"event": "stage", "name": name, "batch": bs, "steps": n_steps})
    window = []
    for _ in range(n_steps):
        idx = mx.array(rng.integers(0, N_TRAIN, bs))
        lr_used = float(opt.learning_rate)
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        if step == 0:
            flat = [g for _, g in tree_flatten(grads)]
            nz = sum(int(float(mx.abs(g).sum()) > 0) for g in flat)
            print({"event": "grad_check", "leaves": len(flat), "nonzero": nz, "lr_first": lr_used})
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        step += 1
        if step % REPORT == 0:
            print({"step": step, "stage": name, "batch": bs, "lr": round(lr_used, 5),
                   "train_mse": round(float(np.mean(window)), 4),
                   "val_rmse": round(val_rmse(), 4),
                   "noise_sd": NOISE_SD, "mean_baseline": round(base_rmse, 4),
                   "secs": round(time.time() - t0, 1)})
            window = []

final = val_rmse()
print({"event": "done", "steps": step, "val_rmse": round(final, 4),
       "ratio_to_noise": round(final / NOISE_SD, 3),
       "ratio_to_mean_baseline": round(final / base_rmse, 3)})
