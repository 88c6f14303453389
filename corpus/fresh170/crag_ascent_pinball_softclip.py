"""Sport-climbing logbook: quantile regression of ascent time.

Predict the 10th / 50th / 90th percentile of minutes a climber spends on a
route (first clip to lower-off) from six logbook fields.  Uses a home-made
'softclip' activation with a hand-written backward pass, a compiled train
step and SGD-with-momentum under cosine warm restarts (SGDR).
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s crag: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("crag")

rng = np.random.default_rng(11)
mx.random.seed(11)

QUANTS = mx.array([0.1, 0.5, 0.9])


def make_logbook(n):
    grade = rng.uniform(5.0, 8.5, n)          # French grade as a number (6a = 6.0 ...)
    length = rng.uniform(10, 35, n)           # metres
    overhang = rng.uniform(-10, 40, n)        # degrees past vertical
    ability = rng.normal(7.0, 0.6, n)         # climber's redpoint grade
    temp = rng.uniform(2, 30, n)              # rock temperature, C
    humid = rng.uniform(20, 95, n)            # relative humidity %
    gap = np.clip(grade - ability + 1.0, 0.0, None)
    base = 0.22 * length * (1.0 + 0.018 * overhang) * (1.0 + 0.55 * gap ** 1.5)
    base *= 1.0 + 0.004 * np.abs(temp - 12) + 0.003 * np.maximum(humid - 60, 0)
    # right-skewed noise that grows with the grade gap (hanging on the rope)
    noise = rng.gamma(2.0, 0.6 + 1.4 * gap, n)
    minutes = base + noise
    x = np.stack([grade, length, overhang, ability, temp, humid], 1)
    return x.astype(np.float32), minutes.astype(np.float32)


xtr, ytr = make_logbook(6000)
xva, yva = make_logbook(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


@mx.custom_function
def softclip(x):
    # smooth clamp to (-3, 3): 3 * tanh(x / 3)
    return 3.0 * mx.tanh(x / 3.0)


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    t = mx.tanh(primals / 3.0)
    return cotangent * (1.0 - t * t)


class QuantileNet(nn.Module):
    def __init__(self, d_in=6, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 3)

    def __call__(self, x):
        h = softclip(self.l1(x))
        h = softclip(self.l2(h))
        out = self.head(h)
        # monotone quantiles: q10 = q50 - softplus, q90 = q50 + softplus
        q50 = out[:, 1] + 12.0
        lo = q50 - nn.softplus(out[:, 0])
        hi = q50 + nn.softplus(out[:, 2])
        return mx.stack([lo, q50, hi], axis=1)


def pinball(pred, y):
    err = y[:, None] - pred
    return mx.mean(mx.maximum(QUANTS * err, (QUANTS - 1.0) * err))


model = QuantileNet()
mx.eval(model.parameters())

# --- gradient audit before training: every layer must receive signal
_, g0 = nn.value_and_grad(model, lambda m, x, y: pinball(m(x), y))(model, xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    log.info("grad audit %-12s |g|=%.3e", k, mx.linalg.norm(v).item())

BATCH = 128
STEPS_PER_EPOCH = 6000 // BATCH
CYCLE_EPOCHS = [4, 8, 12]             # SGDR: each restart runs a longer cycle
peak = 0.05
sched_parts, bounds, acc = [], [], 0
for i, ce in enumerate(CYCLE_EPOCHS):
    sched_parts.append(optim.cosine_decay(peak, ce * STEPS_PER_EPOCH, end=peak * 0.02))
    acc += ce * STEPS_PER_EPOCH
    if i < len(CYCLE_EPOCHS) - 1:
        bounds.append(acc)
lr_sched = optim.join_schedules(sched_parts, bounds)
opt = optim.SGD(learning_rate=lr_sched, momentum=0.9, nesterov=True)

state = [model.state, opt.state]


from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, lambda m, a, b: pinball(m(a), b))(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


def evaluate():
    p = model(xva)
    pl = pinball(p, yva).item()
    cover = mx.mean((yva >= p[:, 0]) & (yva <= p[:, 2])).item() * 100
    width = mx.mean(p[:, 2] - p[:, 0]).item()
    mae50 = mx.mean(mx.abs(p[:, 1] - yva)).item()
    return pl, cover, width, mae50


med = float(np.median(np.array(ytr)))
ref = pinball(mx.broadcast_to(mx.array([[float(np.quantile(np.array(ytr), q)) for q in (0.1, 0.5, 0.9)]]),
                              (yva.shape[0], 3)), yva).item()
log.info("reference: constant-quantile pinball %.3f min, median ascent %.1f min", ref, med)

t0 = time.time()
epoch_total = 0
for cyc, ce in enumerate(CYCLE_EPOCHS, 1):
    for ep in range(1, ce + 1):
        epoch_total += 1
        perm = mx.array(rng.permutation(6000))
        run, gn = 0.0, 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, gnorm = step(xtr[idx], ytr[idx])
            mx.eval(state, loss, gnorm)
            run += loss.item()
            gn += gnorm.item()
        pl, cover, width, mae50 = evaluate()
        log.info("cycle %d/%d ep %2d/%d lr %.4f | train %.3f val %.3f (ref %.3f) | cover80 %.1f%% width %.2f min mae50 %.2f | gnorm %.2f",
                 cyc, len(CYCLE_EPOCHS), ep, ce, float(opt.learning_rate), run / STEPS_PER_EPOCH, pl, ref, cover, width,
                 mae50, gn / STEPS_PER_EPOCH)

pl, cover, width, mae50 = evaluate()
log.info("finished %d epochs in %.1fs: val pinball %.3f vs reference %.3f (%.0f%% lower), 10-90 coverage %.1f%% (nominal 80%%)",
         epoch_total, time.time() - t0, pl, ref, 100 * (1 - pl / ref), cover)
