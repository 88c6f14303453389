"""Predict astronomical seeing (star FWHM, arcsec) at a backyard observatory.

Frames arrive as a stream from a simulator (raw, un-standardised weather and
pointing readings).  As in many online learners, the first WARMUP steps only fill a
running (Welford) input normaliser: the learning rate is exactly 0 during that
phase, so the network weights do not move while the normaliser statistics settle.
After the warm-up the normaliser is fixed and the learning rate follows a cosine
decay.  The whole value_and_grad + update is compiled with the model and optimizer
state as inputs/outputs; the normaliser arrays are written eagerly between calls.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="[seeing] %(levelname)-5s %(message)s")
log = logging.getLogger("seeing")

FEATURES = ["jet_wind_ms", "ground_wind_ms", "tube_minus_air_C", "altitude_deg",
            "hours_after_sunset", "humidity_pct", "dewpoint_gap_C"]
WARMUP = 150
TOTAL = 2400
BATCH = 64


def simulate(rng, n):
    jet = rng.gamma(4.0, 8.0, n)                    # 200 hPa wind, m/s
    ground = rng.gamma(2.0, 1.8, n)
    tube = rng.normal(1.5, 1.2, n) * np.exp(-rng.uniform(0, 10, n) / 4.0)
    alt = rng.uniform(20.0, 85.0, n)
    hours = rng.uniform(0.0, 10.0, n)
    hum = np.clip(rng.normal(70.0, 15.0, n), 20.0, 100.0)
    dew = np.clip(rng.normal(5.0, 3.0, n), 0.0, None)
    airmass = 1.0 / np.sin(np.radians(alt))
    free_air = 0.9 * (1.0 + 0.018 * jet) * airmass ** 0.6
    local = 0.35 * np.abs(tube) + 0.06 * np.maximum(ground - 6.0, 0.0) ** 1.5
    fwhm = free_air + local + 0.15 * (hum > 90) * (dew < 1.5)
    fwhm = fwhm * np.exp(rng.normal(0.0, 0.06, n))
    x = np.stack([jet, ground, tube, alt, hours, hum, dew], axis=1).astype(np.float32)
    return x, fwhm.astype(np.float32)


class RunningNorm(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.mean = mx.zeros((dims,))
        self.m2 = mx.ones((dims,))
        self.count = mx.array(0.0)

    def observe(self, x):
        # Chan et al. parallel Welford merge of a batch into the running stats
        n_b = x.shape[0]
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.count * n_b / n)
        self.count = n

    def __call__(self, x):
        var = self.m2 / mx.maximum(self.count - 1.0, 1.0)
        return (x - self.mean) / mx.sqrt(var + 1e-6)


class SeeingNet(nn.Module):
    def __init__(self, dims, width=64):
        super().__init__()
        self.norm = RunningNorm(dims)
        self.l1 = nn.Linear(dims, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(self.norm(x)))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)       # predicts log FWHM


def loss_fn(model, x, log_fwhm):
    return nn.losses.mse_loss(model(x), log_fwhm, reduction="mean")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    vx_np, vy_np = simulate(np.random.default_rng(99), 2000)
    vx, vy = mx.array(vx_np), mx.array(vy_np)

    model = SeeingNet(len(FEATURES))
    model.norm.freeze()                     # statistics, not trainable weights
    mx.eval(model.parameters())

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.0, WARMUP),
         optim.cosine_decay(2e-3, TOTAL - WARMUP, 2e-5)],
        [WARMUP])
    opt = optim.Adam(learning_rate=schedule)
    grad_fn = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        return loss

    def evaluate():
        pred = mx.exp(model(vx))
        err = np.array(pred - vy)
        return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err) < 0.25) * 100)

    med = float(np.median(vy_np))
    log.info("features: %s", ", ".join(FEATURES))
    log.info("baseline: constant median %.2f\" -> valid RMSE %.3f\"", med,
             float(np.sqrt(np.mean((vy_np - med) ** 2))))

    x, y = simulate(rng, BATCH)
    _, g = grad_fn(model, mx.array(x), mx.log(mx.array(y)))
    leaves = tree_flatten(g)
    nz = sum(1 for _, v in leaves if float(mx.abs(v).max()) > 0)
    log.info("gradient check: %d trainable leaves, %d with non-zero gradient", len(leaves), nz)

    snapshot = {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}
    log.info("phase 1: filling the input normaliser for %d steps (lr = 0) ...", WARMUP)
    t0 = time.time()
    window = []
    for it in range(1, TOTAL + 1):
        if it > 1:
            x, y = simulate(rng, BATCH)
        xb = mx.array(x)
        if it <= WARMUP:
            model.norm.observe(xb)
        loss = step(xb, mx.log(mx.array(y)))
        mx.eval(loss, model.state, opt.state)
        window.append(loss.item())
        if it == WARMUP:
            eager = loss_fn(model, xb, mx.log(mx.array(y))).item()
            log.info("check: compiled step loss %.6f, eager loss %.6f", loss.item(), eager)
            moved = max(float(np.abs(np.array(v) - snapshot[k]).max())
                        for k, v in tree_flatten(model.trainable_parameters()))
            mean = np.array(model.norm.mean)
            log.info("phase 1 done: %d frames seen, jet mean %.1f m/s, altitude mean %.1f deg, "
                     "max weight change %.1e, logMSE %.4f", int(model.norm.count.item()),
                     mean[0], mean[3], moved, float(np.mean(window)))
            window = []
            norm_frozen = np.array(model.norm.mean)
            log.info("phase 2: training with cosine lr from %.1e", float(schedule(WARMUP + 1)))
        elif it > WARMUP and (it - WARMUP) % 250 == 0:
            rmse, within = evaluate()
            log.info("step %4d, lr %.2e, train logMSE %.4f, valid RMSE %.3f arcsec, "
                     "within 0.25\": %.1f%%, %.1fs", it, float(opt.learning_rate.item()),
                     float(np.mean(window)), rmse, within, time.time() - t0)
            window = []
    drift = float(np.abs(np.array(model.norm.mean) - norm_frozen).max())
    rmse, within = evaluate()
    log.info("done: valid RMSE %.3f arcsec, within 0.25\": %.1f%%, normaliser drift in phase 2 %.1e",
             rmse, within, drift)


if __name__ == "__main__":
    main()
