"""Sea-salt pans: predict the daily salt harvest of a pan, with its uncertainty.

A small heteroscedastic regressor (mean + sigma heads) fitted with the full
Gaussian negative log-likelihood, so the loss goes below zero once the model
is confident.  The learning rate warms up linearly from exactly 0.
"""
import math
import time
from collections import namedtuple
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

Report = namedtuple("Report", "epoch step lr train_nll test_nll test_rmse cover_1sd")

rng = np.random.default_rng(11)


def simulate(n):
    sun = rng.uniform(2.0, 13.0, n)          # hours of sunshine
    wind = rng.gamma(2.0, 2.5, n)            # m/s
    humid = rng.uniform(0.35, 0.95, n)       # relative humidity
    brine = rng.uniform(1.10, 1.24, n)       # brine density g/cm3
    depth = rng.uniform(2.0, 12.0, n)        # cm of brine in the pan
    clay = rng.integers(0, 2, n).astype(np.float64)  # clay-lined pan
    evap = 0.35 * sun * (1.0 - humid) + 0.12 * np.sqrt(wind) * (1.0 - humid)
    crystal = 1.0 / (1.0 + np.exp(-(brine - 1.19) * 60.0))
    mean = 3.2 * evap * crystal * np.tanh(depth / 5.0) * (1.0 + 0.15 * clay)
    sd = 0.05 + 0.04 * wind * crystal      # gusty days make harvests erratic
    y = mean + sd * rng.standard_normal(n)
    x = np.stack([sun, np.log1p(wind), humid, brine, depth, clay], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = simulate(8000)
x_te, y_te = simulate(2000)
mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
mu_y, sd_y = y_tr.mean(), y_tr.std()
x_tr = (x_tr - mu_x) / sd_x
x_te = (x_te - mu_x) / sd_x
y_tr = (y_tr - mu_y) / sd_y
y_te = (y_te - mu_y) / sd_y


class PanModel(nn.Module):
    def __init__(self, d_in=6, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.mean_head = nn.Linear(hidden, 1)
        self.scale_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        mean = self.mean_head(h).squeeze(-1)
        sigma = nn.softplus(self.scale_head(h).squeeze(-1)) + 1e-3
        return mean, sigma


HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_nll(model, x, y):
    mean, sigma = model(x)
    z = (y - mean) / sigma
    return mx.mean(HALF_LOG_2PI + mx.log(sigma) + 0.5 * z * z)


EPOCHS = 18
BATCH = 128
STEPS_PER_EPOCH = len(x_tr) // BATCH
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARMUP = 200
PEAK = 3e-3

schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARMUP),
     optim.cosine_decay(PEAK, TOTAL - WARMUP, 1e-4)],
    [WARMUP],
)

mx.random.seed(3)
model = PanModel()
optimizer = optim.Adam(learning_rate=schedule, bias_correction=True)
loss_and_grad = nn.value_and_grad(model, gaussian_nll)

# one look at the gradients before anything moves
_, g0 = loss_and_grad(model, mx.array(x_tr[:BATCH]), mx.array(y_tr[:BATCH]))
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"gradient check: {len(leaves)} leaves, zero-gradient leaves: {dead or 'none'}")

state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


def evaluate(x, y):
    mean, sigma = model(mx.array(x))
    yy = mx.array(y)
    z = (yy - mean) / sigma
    nll = mx.mean(HALF_LOG_2PI + mx.log(sigma) + 0.5 * z * z)
    rmse = mx.sqrt(mx.mean((yy - mean) ** 2)) * float(sd_y)  # in kg/m2
    cover = mx.mean((mx.abs(z) <= 1.0).astype(mx.float32))
    mx.eval(nll, rmse, cover)
    return nll.item(), rmse.item(), cover.item()


print("predict-the-mean reference rmse: %.4f kg/m2" % float(np.std(y_te * sd_y)))
t0 = time.perf_counter()
step = 0
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(len(x_tr))
    running = 0.0
    for b in range(STEPS_PER_EPOCH):
        idx = order[b * BATCH:(b + 1) * BATCH]
        loss = train_step(mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        mx.eval(state)
        running += loss.item()
        step += 1
    if epoch in (1, 2, 3) or epoch % 3 == 0:
        nll, rmse, cover = evaluate(x_te, y_te)
        print(Report(epoch, step, round(float(schedule(step)), 6),
                     round(running / STEPS_PER_EPOCH, 4), round(nll, 4),
                     round(rmse, 4), round(cover, 3)))

print(f"done in {time.perf_counter() - t0:.1f}s; a calibrated Gaussian covers ~0.683 within 1 sd")
