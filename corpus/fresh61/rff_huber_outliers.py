"""Robust regression on frozen random Fourier features.

A fixed random projection (a frozen nn.Linear) turns 3 inputs into 128 cosine
features; a trainable readout plus a small trainable tanh correction branch
fit the targets.  12% of the training targets are gross outliers, so the
objective is the Huber loss.  SGD with Nesterov momentum and a warmup+cosine
schedule.  Progress goes through the logging module.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("rff")

rng = np.random.default_rng(11)


def truth(x):
    return np.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + 0.3 * np.cos(3.0 * x[:, 2])


def make(n, outlier_frac):
    x = rng.uniform(-1.5, 1.5, size=(n, 3)).astype(np.float32)
    y = truth(x) + 0.05 * rng.standard_normal(n)
    bad = rng.random(n) < outlier_frac
    y[bad] += rng.choice([-1.0, 1.0], size=bad.sum()) * rng.uniform(4.0, 9.0, size=bad.sum())
    return x, y.astype(np.float32), bad


Xtr, Ytr, BAD = make(3000, 0.12)
Xte, Yte, _ = make(800, 0.0)
Xtr_m, Ytr_m, Xte_m, Yte_m = map(mx.array, (Xtr, Ytr, Xte, Yte))


class RFFRegressor(nn.Module):
    def __init__(self, d_in=3, n_feat=128, scale=1.7):
        super().__init__()
        self.proj = nn.Linear(d_in, n_feat)
        self.proj.weight = mx.random.normal((n_feat, d_in)) * scale
        self.proj.bias = mx.random.uniform(0.0, 2 * math.pi, (n_feat,))
        self.proj.freeze()
        self.readout = nn.Linear(n_feat, 1)
        self.corr_in = nn.Linear(d_in, 16)
        self.corr_out = nn.Linear(16, 1)
        self.n_feat = n_feat

    def __call__(self, x):
        phi = mx.cos(self.proj(x)) * math.sqrt(2.0 / self.n_feat)
        return (self.readout(phi) + self.corr_out(mx.tanh(self.corr_in(x)))).squeeze(-1)


mx.random.seed(5)
model = RFFRegressor()
mx.eval(model.parameters())


def huber(pred, y, delta=1.0):
    r = mx.abs(pred - y)
    quad = mx.minimum(r, delta)
    return mx.mean(0.5 * quad * quad + delta * (r - quad))


def loss_fn(m, x, y):
    return huber(m(x), y)


steps = 1500
batch = 64
warm = 100
sched = optim.join_schedules(
    [optim.linear_schedule(1e-3, 0.2, warm), optim.cosine_decay(0.2, steps - warm, 1e-3)], [warm]
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)

# gradient sanity check on the first batch
_, g0 = vg(model, Xtr_m[:batch], Ytr_m[:batch])
for k, v in tree_flatten(g0):
    n = mx.abs(v).max().item()
    log.info("grad check %-18s max|g|=%.3e", k, n)
    assert n > 0, k
log.info("trainable leaves: %s (frozen: proj.weight, proj.bias)", [k for k, _ in tree_flatten(model.trainable_parameters())])

err0 = mx.abs(model(Xte_m) - Yte_m)
log.info("step    0 before training | clean test MedAE %.4f RMSE %.4f", float(np.median(np.array(err0))), mx.sqrt(mx.mean(err0 * err0)).item())
t0 = time.perf_counter()
running = None
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, len(Xtr), size=batch))
    loss, grads = vg(model, Xtr_m[idx], Ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
    if step % 150 == 0:
        err = mx.abs(model(Xte_m) - Yte_m)
        medae = float(np.median(np.array(err)))
        rmse = mx.sqrt(mx.mean(err * err)).item()
        res = np.abs(np.array(model(Xtr_m)) - Ytr)
        mad = np.median(res)
        flagged = res > 3 * 1.4826 * mad + 0.5
        recall = (flagged & BAD).sum() / BAD.sum()
        log.info(
            "step %4d lr %.4f huber(ema) %.4f | clean test MedAE %.4f RMSE %.4f | outliers flagged %.1f%%",
            step, opt.learning_rate.item(), running, medae, rmse, 100 * recall,
        )
log.info("done in %.1fs", time.perf_counter() - t0)
