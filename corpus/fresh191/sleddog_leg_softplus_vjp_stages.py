"""Sled-dog race planner: predict how many hours a mushing team needs for the
next leg between checkpoints.  Two training stages: short coastal legs first,
then the long interior legs (deeper snow, colder, more trail breaking), which
are harder, so the loss jumps when stage 2 starts.  Each stage warms its
learning rate up from 0 again with a fresh optimizer.

The output head is a softplus with a hand-written VJP (leg time must be > 0)."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s mush: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mush")

rng = np.random.default_rng(2027)
FEATS = ["dist_km", "climb_m", "snow_cm", "temp_c", "dogs", "rest_h", "age_y", "breaking"]

def make_legs(n, interior):
    dist = rng.uniform(60, 140, n) if interior else rng.uniform(20, 70, n)
    climb = rng.uniform(100, 1400, n) if interior else rng.uniform(0, 400, n)
    snow = rng.gamma(3.0, 12.0 if interior else 4.0, n)
    temp = rng.normal(-28 if interior else -9, 8, n)
    dogs = rng.integers(8, 15, n).astype(np.float64)
    rest = rng.uniform(0, 8, n)
    age = rng.uniform(2, 8, n)
    breaking = (rng.random(n) < (0.45 if interior else 0.1)).astype(np.float64)
    speed = 14.0 * (1 + 0.03 * (dogs - 11)) * np.exp(-0.012 * snow) \
        * (1 - 0.04 * np.abs(age - 4.5)) * (1 + 0.025 * np.minimum(rest, 6)) \
        * (1 - 0.22 * breaking) * (1 - 0.004 * np.maximum(-temp - 30, 0) ** 1.3 / 3)
    hours = dist / speed + climb / 550.0
    hours *= np.exp(rng.normal(0, 0.06, n))
    X = np.stack([dist, climb, snow, temp, dogs, rest, age, breaking], 1)
    return X.astype(np.float32), hours.astype(np.float32)

Xc, yc = make_legs(2400, interior=False)
Xi, yi = make_legs(2400, interior=True)
Xall = np.concatenate([Xc, Xi])
mu, sd = Xall.mean(0), Xall.std(0) + 1e-6
norm = lambda X: mx.array((X - mu) / sd)
stages = [("coastal", norm(Xc[:2000]), mx.array(yc[:2000]), norm(Xc[2000:]), mx.array(yc[2000:])),
          ("interior", norm(Xi[:2000]), mx.array(yi[:2000]), norm(Xi[2000:]), mx.array(yi[2000:]))]
# the planner keeps a validation set over both kinds of legs
Xv_all = mx.concatenate([stages[0][3], stages[1][3]])
yv_all = mx.concatenate([stages[0][4], stages[1][4]])


@mx.custom_function
def positive_hours(z):
    return mx.logaddexp(z, 0.0)


@positive_hours.vjp
def positive_hours_vjp(primals, cotangent, output):
    z = primals  # single input: MLX hands the array itself
    return cotangent * mx.sigmoid(z)


class LegTimeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return positive_hours(self.out(h)).squeeze(-1)


def huber_log(model, x, y):
    pred = model(x)
    return nn.losses.huber_loss(mx.log(pred + 1e-3), mx.log(y), delta=0.2, reduction="mean")


mx.random.seed(11)
model = LegTimeNet()

# audit the hand-written VJP against autodiff of the same formula once
z = mx.random.normal((257,)) * 4
g_custom = mx.grad(lambda t: positive_hours(t).sum())(z)
g_auto = mx.grad(lambda t: mx.logaddexp(t, 0.0).sum())(z)
log.info("vjp audit: max|custom-autodiff| = %.2e over %d points", mx.abs(g_custom - g_auto).max().item(), z.size)

BATCH, STEPS = 64, 450
summary = []
t0 = time.time()
for s_idx, (sname, Xt, yt, Xv, yv) in enumerate(stages, 1):
    peak = 3e-3 if s_idx == 1 else 1.5e-3
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, 60),
                                  optim.cosine_decay(peak, STEPS - 60, 1e-5)], [60])
    opt = optim.Adamax(learning_rate=sched)
    state = [model.state, opt.state]
    vg = nn.value_and_grad(model, huber_log)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    base = float(mx.abs(yv - yt.mean()).mean().item())
    log.info("stage %d/%d %s: %d legs, mean %.2f h, baseline MAE %.2f h", s_idx, len(stages), sname,
             yt.size, yt.mean().item(), base)
    n = Xt.shape[0]
    for it in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, n, BATCH))
        loss = step(Xt[idx], yt[idx])
        mx.eval(state, loss)
        if it == 1 or it % 75 == 0:
            pv = model(Xv)
            mae = mx.abs(pv - yv).mean().item()
            mape = (mx.abs(pv - yv) / yv).mean().item() * 100
            mae_all = mx.abs(model(Xv_all) - yv_all).mean().item()
            log.info("stage=%s step=%d lr=%.2e huber=%.5f val_mae=%.3fh mape=%.1f%% both_mae=%.3fh base=%.2fh",
                     sname, it, sched(mx.array(it - 1)).item(), loss.item(), mae, mape, mae_all, base)
    summary.append((sname, base, mae, mape))

log.info("trained in %.1fs", time.time() - t0)
print("\nleg      baseline_MAE_h  model_MAE_h  MAPE_%")
for sname, base, mae, mape in summary:
    print(f"{sname:<9}{base:>14.2f}{mae:>13.3f}{mape:>8.1f}")
