"""Tidal-stream turbine power curve from nacelle readings.

Frozen random-Fourier-feature front end (kept fixed on purpose) + trainable
GELU head, Nesterov SGD with three warm restarts, each re-warming from lr 0.
"""
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tidestream")

mx.random.seed(2024)
RATED_KW = 1200.0


def simulate(n):
    k = mx.random.split(mx.random.key(n), 6)
    speed = mx.random.uniform(0.3, 3.4, (n,), key=k[0])            # m/s
    phase = mx.random.uniform(0, 2 * math.pi, (n,), key=k[1])      # tide phase
    ti = mx.random.uniform(0.05, 0.2, (n,), key=k[2])              # turbulence intensity
    yaw = mx.random.uniform(-25, 25, (n,), key=k[3])               # degrees
    foul = mx.random.uniform(0, 400, (n,), key=k[4])               # days since cleaning
    cp = 0.42 * mx.cos(yaw * math.pi / 180) ** 3 * (1 - 0.0006 * foul) * (1 - 0.8 * (ti - 0.05))
    area = math.pi * 9.0 ** 2
    power = 0.5 * 1025 * area * cp * speed ** 3 / 1000.0           # kW
    power = mx.minimum(power, RATED_KW) * (1 + 0.02 * mx.sin(phase))
    power = power + 15.0 * mx.random.normal((n,), key=k[5])
    x = mx.stack([(speed - 1.85) / 0.9, mx.sin(phase), mx.cos(phase),
                  (ti - 0.125) / 0.043, yaw / 14.4, (foul - 200) / 115], axis=1)
    return x, power / 1000.0                                       # MW


class RFFPowerCurve(nn.Module):
    def __init__(self, d_in=6, n_feat=96, hidden=64):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)          # random projection, frozen below
        self.head = nn.Sequential(nn.Linear(2 * n_feat, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(),
                                  nn.Linear(hidden, 1))

    def __call__(self, x):
        z = self.rff(x)
        return self.head(mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)).squeeze(-1)


xtr, ytr = simulate(4000)
xva, yva = simulate(800)
model = RFFPowerCurve()
model.rff.freeze()
mx.eval(model.parameters())

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
log.info("trainable params %d of %d (rff projection frozen on purpose)", n_train, n_all)

PEAK, CYCLE, WARM = 0.08, 120, 15
pieces, bounds = [], []
for c in range(3):
    pieces += [optim.linear_schedule(0.0, PEAK, WARM),
               optim.cosine_decay(PEAK, CYCLE - WARM, 1e-4)]
    bounds += [c * CYCLE + WARM, (c + 1) * CYCLE]
schedule = optim.join_schedules(pieces, bounds[:-1])
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, mse)
_, g0 = loss_and_grad(model, xtr[:256], ytr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
log.info("grad audit: %d trainable tensors, %d with all-zero grad", len(tree_flatten(g0)), len(zero))

state = [model.state, opt.state]





@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


baseline = mx.mean((yva - ytr.mean()) ** 2).item()
t0 = time.time()
for it in range(3 * CYCLE):
    idx = mx.random.randint(0, 4000, (128,))
    loss = step(xtr[idx], ytr[idx])
    mx.eval(state, loss)
    if it % 20 == 0 or it == 3 * CYCLE - 1:
        pred = model(xva)
        vmse = mx.mean((pred - yva) ** 2).item()
        mae_kw = 1000 * mx.mean(mx.abs(pred - yva)).item()
        log.info("it %3d cycle %d lr %.4f | train_mse %.5f val_mse %.5f (mean-predictor %.5f) val_mae %.1f kW",
                 it, it // CYCLE, schedule(it).item(), loss.item(), vmse, baseline, mae_kw)
log.info("finished %d steps in %.1fs", 3 * CYCLE, time.time() - t0)
