"""Curling: predict how far a delivered stone travels (m) from the delivery.

Compiled train step with the model and optimizer state as inputs/outputs,
learning-rate warm-up from exactly 0, and a plain (uncorrected) running EMA
of the training loss that starts at 0.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)


def deliveries(n):
    v0 = rng.uniform(1.9, 2.6, n)             # release speed m/s
    spin = rng.uniform(-2.5, 2.5, n)          # rotations over the whole travel
    ice_t = rng.uniform(-6.5, -3.5, n)        # ice temperature C
    pebble = rng.uniform(0, 4, n)             # hours since pebbling
    sweep = rng.uniform(0, 1, n)              # sweeping effort share
    mu = 0.0168 * (1 + 0.045 * (ice_t + 5)) * (1 + 0.06 * pebble) * (1 - 0.12 * sweep)
    mu *= 1 + 0.02 * np.abs(spin)
    dist = v0 ** 2 / (2 * 9.81 * mu) + rng.normal(0, 0.35, n)
    X = np.stack([v0, spin, ice_t, pebble, sweep], 1).astype(np.float32)
    return X, dist.astype(np.float32)


class DrawNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def emit(event, **kw):
    print(json.dumps({"event": event, **kw}, sort_keys=True))


t0 = time.time()
Xtr, ytr = deliveries(16000)
Xva, yva = deliveries(2000)
xm, xs = Xtr.mean(0), Xtr.std(0)
ym, ys = float(ytr.mean()), float(ytr.std())
Xtr_m, Xva_m = mx.array((Xtr - xm) / xs), mx.array((Xva - xm) / xs)
ytr_m = mx.array((ytr - ym) / ys)
emit("data", train=len(Xtr), valid=len(Xva), mean_draw_m=round(ym, 2), sd_draw_m=round(ys, 2))

mx.random.seed(11)
model = DrawNet()
mx.eval(model.parameters())

STEPS, BS, PEAK, WARM = 1800, 64, 2e-3, 200
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 2e-5)],
    [WARM])
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)

# gradient check before the compiled loop (lr is 0 at the first update)
l0, g0 = loss_and_grad(model, Xtr_m[:BS], ytr_m[:BS])
flat = tree_flatten(g0)
zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
emit("grad_check", leaves=len(flat), zero_leaves=zero, loss0=round(l0.item(), 4),
     lr_first_update=float(schedule(mx.array(0))))
assert not zero

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


def valid_report():
    pred = model(Xva_m) * ys + ym
    err = np.abs(np.array(pred) - yva)
    return float(np.sqrt(np.mean(err ** 2))), 100.0 * float(np.mean(err < 0.6))


rmse, within = valid_report()
emit("untrained", valid_rmse_m=round(rmse, 3), within_60cm_pct=round(within, 1))

ema, decay = 0.0, 0.99
n = Xtr_m.shape[0]
perm = rng.permutation(n)
cursor = 0
for it in range(1, STEPS + 1):
    if cursor + BS > n:
        perm, cursor = rng.permutation(n), 0
    idx = mx.array(perm[cursor:cursor + BS])
    cursor += BS
    loss = step(Xtr_m[idx], ytr_m[idx])
    mx.eval(state, loss)
    ema = decay * ema + (1 - decay) * loss.item()      # starts at 0, not corrected
    if it in (10, 40) or it % 150 == 0:
        rmse, within = valid_report()
        emit("step", step=it, lr=float(opt.learning_rate), train_mse_ema=round(ema, 4),
             valid_rmse_m=round(rmse, 3), within_60cm_pct=round(within, 1),
             secs=round(time.time() - t0, 1))

rmse, within = valid_report()
emit("done", valid_rmse_m=round(rmse, 3), within_60cm_pct=round(within, 1),
     noise_floor_m=0.35, secs=round(time.time() - t0, 1))
