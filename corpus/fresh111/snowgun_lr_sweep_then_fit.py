"""Snowmaking: overnight snow depth (cm) made by a fan gun, from the night's readings.

First a learning-rate range test on a throw-away network (its loss blows up at the end of
the sweep on purpose), then the real run from fresh weights at a tenth of the sweep's best
rate, with a compiled training step.
"""
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(format="%(asctime)s %(levelname)-5s snowgun | %(message)s",
                    datefmt="%H:%M:%S", level=logging.INFO)
log = logging.getLogger("snowgun")

FEATURES = ["wet_bulb_C", "rel_humidity", "water_bar", "air_temp_C", "wind_ms", "hours_on"]


def make_nights(rng, n):
    wet_bulb = rng.uniform(-12.0, -1.0, n)
    rh = rng.uniform(0.35, 0.98, n)
    water = rng.uniform(12.0, 40.0, n)
    air = wet_bulb + rng.uniform(0.5, 4.0, n) * (1.0 - rh) * 3.0
    wind = rng.gamma(2.0, 1.6, n)
    hours = rng.uniform(2.0, 12.0, n)
    # made-up law: colder wet bulb -> more snow per hour; wind blows snow off the pile
    rate = 1.6 * np.log1p(np.exp(-(wet_bulb + 2.5))) * np.sqrt(water / 20.0)
    loss_wind = 0.12 * np.maximum(wind - 4.0, 0.0) ** 1.3
    depth = hours * np.maximum(rate - loss_wind, 0.0) + rng.normal(0.0, 0.8, n)
    x = np.stack([wet_bulb, rh, water, air, wind, hours], axis=1).astype(np.float32)
    return x, np.maximum(depth, 0.0).astype(np.float32)


class SnowNet(nn.Module):
    def __init__(self, n_in, width=96):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def lr_range_test(xtr, ytr, rng, lo=1e-5, hi=10.0, steps=150, bs=128):
    """Exponential sweep; returns (lrs, smoothed losses). Ends on blow-up by design."""
    mx.random.seed(101)
    probe = SnowNet(xtr.shape[1])
    opt = optim.RMSprop(learning_rate=lo)
    vg = nn.value_and_grad(probe, mse)
    mult = (hi / lo) ** (1.0 / (steps - 1))
    lrs, smooth, avg, best = [], [], 0.0, float("inf")
    for i in range(steps):
        lr = lo * mult ** i
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, len(xtr), bs))
        loss, grads = vg(probe, xtr[idx], ytr[idx])
        opt.update(probe, grads)
        mx.eval(probe.parameters(), opt.state, loss)
        val = loss.item()
        avg = 0.9 * avg + 0.1 * val
        sm = avg / (1.0 - 0.9 ** (i + 1))
        lrs.append(lr)
        smooth.append(sm)
        best = min(best, sm)
        if not math.isfinite(sm) or sm > 4.0 * best:
            break
    return lrs, smooth


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    x, y = make_nights(rng, 14000)
    xv, yv = make_nights(rng, 2000)
    mu, sd = x.mean(0), x.std(0)
    xtr, xva = mx.array((x - mu) / sd), mx.array((xv - mu) / sd)
    ytr, yva = mx.array(y), mx.array(yv)
    log.info("nights: train %d, valid %d, features %s", len(x), len(xv), ",".join(FEATURES))
    log.info("predict-the-mean valid RMSE %.3f cm", float(np.sqrt(np.mean((yv - y.mean()) ** 2))))

    # ---------------- phase 1: learning-rate range test on a throw-away network
    lrs, smooth = lr_range_test(xtr, ytr, rng)
    k = int(np.argmin(smooth))
    chosen = lrs[k] / 10.0
    log.info("range test: %d steps, lowest smoothed loss %.3f at lr %.2e, stopped at lr %.2e "
             "with loss %.3g (blow-up expected)", len(lrs), smooth[k], lrs[k], lrs[-1], smooth[-1])
    for j in range(0, len(lrs), 25):
        log.info("  sweep lr %.2e  smoothed mse %.3f", lrs[j], smooth[j])
    log.info("using peak lr %.2e for the real run", chosen)

    # ---------------- phase 2: real run from fresh weights
    mx.random.seed(2024)
    model = SnowNet(xtr.shape[1])
    total = 3000
    sched = optim.join_schedules(
        [optim.linear_schedule(chosen / 20, chosen, 100), optim.cosine_decay(chosen, total - 100, chosen / 50)],
        [100])
    opt = optim.RMSprop(learning_rate=sched)

    # eager gradient audit before compiling
    _, g0 = nn.value_and_grad(model, mse)(model, xtr[:256], ytr[:256])
    zero = [p for p, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
    log.info("first-batch gradient check: %d leaves, zero leaves: %s", len(tree_flatten(g0)), zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = nn.value_and_grad(model, mse)(model, xb, yb)
        opt.update(model, grads)
        return loss

    bs, n = 128, xtr.shape[0]
    perm, pos, window = rng.permutation(n), 0, []
    for step in range(1, total + 1):
        if pos + bs > n:
            perm, pos = rng.permutation(n), 0
        idx = mx.array(perm[pos:pos + bs])
        pos += bs
        loss = train_step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        window.append(loss.item())
        if step % 300 == 0:
            pred = model(xva)
            rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
            within = mx.mean(mx.abs(pred - yva) < 2.0).item() * 100.0
            log.info("step %4d  lr %.2e  train mse %.3f  valid rmse %.3f cm  within 2 cm %.1f%%  %.1fs",
                     step, opt.learning_rate.item(), float(np.mean(window)), rmse, within, time.time() - t0)
            window = []
    log.info("done")


if __name__ == "__main__":
    main()
