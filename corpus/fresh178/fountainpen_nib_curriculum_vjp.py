# Nib bench: predict the ink line width (micrometres) a fountain pen lays down
# from bench readings.  Curriculum: first the slow, calm strokes, then every
# stroke (fast strokes skip and feather, so the loss jumps when they arrive).
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s nibbench | %(message)s")
log = logging.getLogger("nib")

rng = np.random.default_rng(1787)
N = 6000
nib_mm = rng.uniform(0.3, 1.5, N)          # nominal tip width
tine_um = rng.uniform(5, 60, N)            # tine gap
feed = rng.uniform(0.4, 1.2, N)            # feed channel depth (mm)
visc = rng.lognormal(0.3, 0.35, N)         # ink viscosity (cP)
sizing = rng.uniform(0, 1, N)              # paper sizing index
speed = rng.gamma(3.0, 4.0, N)             # writing speed (cm/s)
press = rng.uniform(0.2, 2.0, N)           # down pressure (N)

wet = (tine_um / 30.0) * feed / visc
width = 420 * nib_mm + 55 * np.log1p(wet) * (1.2 - sizing) + 35 * press * nib_mm
# fast strokes starve the feed: the line thins sharply once the flow can't keep up
starve = np.maximum(speed - 14.0 * wet ** 0.5, 0.0)
width = width - 18.0 * starve ** 1.3 + 22.0 * np.sin(speed / 3.0) * (1 - sizing)
noise_sd = 6.0 + 0.9 * speed
width = width + rng.normal(0, 1, N) * noise_sd

X = np.stack([nib_mm, tine_um, feed, np.log(visc), sizing, np.log(speed), press], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = width.astype(np.float32)
y_mu, y_sd = float(y.mean()), float(y.std())
yz = ((y - y_mu) / y_sd).astype(np.float32)

perm = rng.permutation(N)
tr, va = perm[:5000], perm[5000:]
easy = tr[speed[tr] < np.median(speed[tr])]
Xva, yva = mx.array(X[va]), y[va]
baseline_mae = float(np.abs(y[va] - y[tr].mean()).mean())


@mx.custom_function
def logcosh(r):
    # log(cosh(r)) written stably
    a = mx.abs(r)
    return a + mx.log1p(mx.exp(-2 * a)) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(primals, cotangent, output):
    r = primals
    return cotangent * mx.tanh(r)


class NibNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


mx.random.seed(1787)
model = NibNet()


def loss_fn(m, xb, yb):
    return logcosh(3.0 * (m(xb) - yb)).mean() / 3.0


# audit the hand-written VJP against autodiff of the same expression
r0 = mx.random.normal((64,))
g_custom = mx.grad(lambda r: logcosh(r).sum())(r0)
g_auto = mx.grad(lambda r: (mx.abs(r) + mx.log1p(mx.exp(-2 * mx.abs(r))) - math.log(2.0)).sum())(r0)
log.info("vjp audit: max|tanh - autodiff| = %.2e over %d points", mx.abs(g_custom - g_auto).max().item(), r0.size)

# every weight must get a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(X[easy[:256]]), mx.array(yz[easy[:256]]))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
log.info("grad check: %d tensors, %d with all-zero gradient", len(tree_flatten(g0)), len(zero))

stages = [("calm strokes", easy, 160, 3e-3), ("all strokes", tr, 320, 2e-3)]
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def _step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


def val_mae():
    p = np.array(model(Xva)) * y_sd + y_mu
    return float(np.abs(p - yva).mean())


t0 = time.time()
B = 128
for name, idx, steps, peak in stages:
    # warm restart: a fresh cosine for every stage
    log.info("stage '%s': %d rows, %d iterations, peak lr %.0e", name, len(idx), steps, peak)
    run = 0.0
    for it in range(1, steps + 1):
        opt.learning_rate = peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (it - 1) / steps)))
        b = idx[rng.integers(0, len(idx), B)]
        loss = _step(mx.array(X[b]), mx.array(yz[b]))
        mx.eval(loss, model.parameters(), opt.state)
        run = 0.9 * run + 0.1 * loss.item() if it > 1 else loss.item()
        if it % 40 == 0 or it == 1:
            log.info("stage %-12s | it %03d/%03d | lr %.2e | logcosh %.4f | val MAE %6.1f um (baseline %.1f um)",
                     name, it, steps, opt.learning_rate.item(), run, val_mae(), baseline_mae)

mae = val_mae()
log.info("done in %.1fs: val MAE %.1f um vs mean-predictor %.1f um -> %.0f%% of baseline", time.time() - t0,
         mae, baseline_mae, 100 * mae / baseline_mae)
