"""Hot-air balloon flight planning: ground drift (km per hour of flight).

Regress drift from 8 synthetic pre-flight readings: wind speed at 300 m, 900 m and
1500 m, wind-direction spread between layers (sin/cos), surface temperature,
planned cruise altitude share, burner duty. Made-up law, 0.6 km/h noise.

bfloat16 compute with float32 master weights: the forward casts weights and inputs
to bf16, the loss is taken in float32 and the optimizer updates the float32
parameters. The step is mx.compile'd with the model and optimizer state as
inputs/outputs. Adam under a warm-up that starts at exactly 0 and a cosine decay.
The training loss is reported as a bias-corrected exponential moving average.
Output goes through the logging module.
"""
import logging
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s balloon | %(message)s")
log = logging.getLogger("balloon")

BF16 = mx.bfloat16


def make_flights(rng, n):
    w300 = rng.gamma(3.0, 2.5, n)
    w900 = w300 * rng.uniform(1.0, 1.8, n) + rng.normal(0, 1.0, n)
    w1500 = w900 * rng.uniform(0.9, 1.5, n) + rng.normal(0, 1.5, n)
    dirspread = rng.uniform(0, math.pi, n)
    temp = rng.normal(12, 7, n)
    alt_share = rng.uniform(0, 1, n)
    burner = rng.uniform(0.2, 0.9, n)
    eff_wind = (1 - alt_share) * w300 + alt_share * (0.6 * w900 + 0.4 * w1500)
    drift = (3.6 * eff_wind * (0.55 + 0.45 * np.cos(dirspread * alt_share))
             + 0.08 * np.maximum(temp - 20, 0) * burner + 1.5)
    y = drift + rng.normal(0, 0.6, n)
    X = np.stack([w300, w900, w1500, np.sin(dirspread), np.cos(dirspread),
                  temp, alt_share, burner], 1)
    return X.astype(np.float32), y.astype(np.float32)


class MixedLinear(nn.Linear):
    """float32 master weights, bf16 matmul."""

    def __call__(self, x):
        return mx.addmm(self.bias.astype(BF16), x.astype(BF16), self.weight.astype(BF16).T)


class DriftNet(nn.Module):
    def __init__(self, d_in=8, hidden=96):
        super().__init__()
        self.l1 = MixedLinear(d_in, hidden)
        self.l2 = MixedLinear(hidden, hidden)
        self.out = MixedLinear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).astype(mx.float32).squeeze(-1)


def mse(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def main():
    rng = np.random.default_rng(2026)
    mx.random.seed(11)
    Xtr, ytr = make_flights(rng, 16000)
    Xte, yte = make_flights(rng, 3000)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    ytr_s, yte_s = (ytr - ymu) / ysd, (yte - ymu) / ysd
    Xtr, ytr_s, Xte, yte_s = map(mx.array, (Xtr, ytr_s, Xte, yte_s))
    log.info("flights train=%d test=%d  drift mean %.2f km/h sd %.2f  noise floor 0.60 km/h",
             Xtr.shape[0], Xte.shape[0], ymu, ysd)

    model = DriftNet()
    mx.eval(model.parameters())
    total_steps, warm = 2500, 200
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_steps - warm, 2e-5)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())
    dtypes = sorted({str(v.dtype) for _, v in tree_flatten(model.parameters())})
    log.info("master weight dtypes %s  compute dtype %s", dtypes, BF16)

    vg = nn.value_and_grad(model, mse)
    _, g0 = vg(model, Xtr[:128], ytr_s[:128])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if mx.all(v == 0).item()]
    log.info("grad check: %d leaves, zero-grad %s, grad dtypes %s, lr at first update %.1e",
             len(leaves), zero, sorted({str(v.dtype) for _, v in leaves}), float(sched(0)))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    def test_rmse_kmh():
        p = model(Xte)
        return math.sqrt(mx.mean(mx.square(p - yte_s)).item()) * ysd

    log.info("untrained test RMSE %.3f km/h (predict-mean %.3f)", test_rmse_kmh(), ysd)
    ema, beta, batch = 0.0, 0.98, 128
    cursor, perm = 0, rng.permutation(Xtr.shape[0])
    t0 = time.perf_counter()
    for it in range(1, total_steps + 1):
        if cursor + batch > len(perm):
            perm, cursor = rng.permutation(Xtr.shape[0]), 0
        idx = mx.array(perm[cursor:cursor + batch])
        cursor += batch
        loss = step(Xtr[idx], ytr_s[idx])
        mx.eval(state, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if it == 1 or it % 250 == 0:
            lr_used = float(sched(it - 1))
            log.info("step %4d  lr %.2e  train mse(ema, bias-corr) %.4f std^2  test RMSE %.3f km/h  %.1fs",
                     it, lr_used, ema / (1 - beta ** it), test_rmse_kmh(), time.perf_counter() - t0)
    log.info("done: test RMSE %.3f km/h vs noise floor 0.60; weights still %s",
             test_rmse_kmh(), sorted({str(v.dtype) for _, v in tree_flatten(model.parameters())}))


if __name__ == "__main__":
    main()
