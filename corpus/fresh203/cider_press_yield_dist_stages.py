"""Cider press juice yield model.

Predict litres of juice per 100 kg of apples from a press-log sheet.
Stage "early" uses firm early-season fruit only; stage "late" adds soft,
mealy late-season fruit (harder to predict, so the loss jumps when it
arrives).  Gradients are averaged over the process group (one process
here) the same way the multi-press setup does it.
"""
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s press: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("cider")

rng = np.random.default_rng(2031)


def make_fruit(n, late):
    hardness = rng.uniform(5.0, 11.0, n)          # kg/cm2 penetrometer
    starch = rng.uniform(1.0, 9.0, n)             # starch-iodine index
    mill_gap = rng.uniform(2.0, 8.0, n)           # mm
    pressure = rng.uniform(2.0, 6.0, n)           # bar
    pomace_c = rng.uniform(4.0, 18.0, n)          # deg C
    minutes = rng.uniform(20.0, 60.0, n)
    hulls = rng.uniform(0.0, 0.06, n)             # rice-hull share
    if late:
        hardness = hardness - rng.uniform(2.0, 4.0, n)
        starch = np.clip(starch + 2.0, 1.0, 10.0)
    mealy = np.clip(7.0 - hardness, 0.0, None)
    y = (58.0 + 2.2 * pressure - 0.9 * mill_gap + 6.0 * np.log(minutes / 20.0)
         + 0.35 * pomace_c + 55.0 * hulls * mealy - 2.6 * mealy ** 1.4
         - 0.6 * np.abs(starch - 5.0) + rng.normal(0.0, 0.8, n))
    X = np.stack([hardness, starch, mill_gap, pressure, pomace_c, minutes, hulls * 100.0], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xe, ye = make_fruit(2400, late=False)
Xl, yl = make_fruit(2400, late=True)
Xv_e, yv_e = make_fruit(500, late=False)
Xv_l, yv_l = make_fruit(500, late=True)
mu, sd = Xe.mean(0), Xe.std(0)
y_mu, y_sd = ye.mean(), ye.std()


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - y_mu) / y_sd)


class PressNet(nn.Module):
    def __init__(self, d=7, h=48):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.inp(x))
        x = x + nn.silu(self.mid(x))
        return self.out(x).squeeze(-1)


group = mx.distributed.init()
log.info("process group: rank %d of %d", group.rank(), group.size())

model = PressNet()
mx.eval(model.parameters())

STEPS_PER_STAGE = 900
WARM = 150
total = 2 * STEPS_PER_STAGE
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, total - WARM, 1e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    grads = nn.utils.average_gradients(grads, group=group)
    opt.update(model, grads)
    return loss


def mae_litres(Xv, yv):
    xv, _ = prep(Xv, yv)
    pred = model(xv) * y_sd + y_mu
    return float(mx.mean(mx.abs(pred - mx.array(yv))))


# check: every parameter receives a gradient
x0, y0 = prep(Xe[:64], ye[:64])
_, g0 = nn.value_and_grad(model, loss_fn)(model, x0, y0)
for k, v in nn.utils.tree_flatten(g0):
    log.info("grad-audit %-12s |g|=%.3e", k, float(mx.linalg.norm(v.reshape(-1))))

base_early = float(np.mean(np.abs(yv_e - y_mu)))
base_late = float(np.mean(np.abs(yv_l - y_mu)))
B = 64
t0 = time.time()
step = 0
for stage, (X, y) in enumerate([(Xe, ye), (np.concatenate([Xe, Xl]), np.concatenate([ye, yl]))]):
    name = ["early", "early+late"][stage]
    log.info("=== stage %d (%s): %d pressings ===", stage + 1, name, len(X))
    xs, ys = prep(X, y)
    run = 0.0
    for i in range(STEPS_PER_STAGE):
        idx = mx.array(rng.integers(0, len(X), B))
        loss = train_step(xs[idx], ys[idx])
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if (i + 1) % 150 == 0:
            lr = float(opt.learning_rate)
            log.info("stage %d it %4d/%d  huber %.4f  lr %.2e  val MAE early %.2f L/100kg (mean-guess %.2f)"
                     "  late %.2f L/100kg (mean-guess %.2f)",
                     stage + 1, i + 1, STEPS_PER_STAGE, run / 150, lr,
                     mae_litres(Xv_e, yv_e), base_early, mae_litres(Xv_l, yv_l), base_late)
            run = 0.0

log.info("done %d steps in %.1fs; final val MAE early %.2f / late %.2f litres per 100 kg",
         step, time.time() - t0, mae_litres(Xv_e, yv_e), mae_litres(Xv_l, yv_l))
