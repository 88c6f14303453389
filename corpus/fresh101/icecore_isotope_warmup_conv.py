"""Next-sample forecast of an ice-core d18O record (per mil) from the 32 samples above it.

The front end is a fixed 5-tap Gaussian smoothing filter (a Conv1d we freeze on purpose:
it is a known pre-processing step, not something to learn).  The rest is a small
Conv1d stack trained with Adam under a warm-up that starts at lr = 0 and then a cosine decay.

Data are channels-last (N, L, C), as mlx.nn.Conv1d expects.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("icecore")

WINDOW = 32
BATCH = 64
STEPS = 1000
WARMUP = 120
PEAK_LR = 3e-3
REPORT_EVERY = 100


def synth_core(n=6000, seed=11):
    """A made-up d18O profile: an annual cycle whose layers thin with depth, a slow
    climate drift, and measurement noise."""
    rng = np.random.default_rng(seed)
    depth = np.arange(n, dtype=np.float64)
    # samples per year shrink from 24 near the top to 10 at the bottom (layer thinning)
    per_year = 24.0 - 14.0 * depth / n
    phase = 2 * np.pi * np.cumsum(1.0 / per_year)
    drift = -35.0 + 1.5 * np.sin(2 * np.pi * depth / 2300.0) + 0.8 * np.sin(2 * np.pi * depth / 870.0)
    amp = 3.0 * (1.0 - 0.5 * depth / n)
    x = drift + amp * np.sin(phase) + rng.normal(0.0, 0.35, size=n)
    return x.astype(np.float32)


def make_windows(series, mean, std):
    z = (series - mean) / std
    idx = np.arange(WINDOW)[None, :] + np.arange(len(z) - WINDOW)[:, None]
    X = z[idx][..., None]            # (N, L, 1): channels-last
    y = z[WINDOW:][:, None]          # the sample right after each window
    return X.astype(np.float32), y.astype(np.float32)


def blocked_split(n_windows, block=300, every=5):
    """Every 5th block of 300 targets is held out, so the test set covers the whole core."""
    target_pos = np.arange(n_windows) + WINDOW
    is_test = (target_pos // block) % every == every - 1
    return np.where(~is_test)[0], np.where(is_test)[0]


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.smooth = nn.Conv1d(1, 1, kernel_size=5, padding=2, bias=False)
        taps = np.exp(-0.5 * (np.arange(-2, 3) / 1.0) ** 2)
        taps = (taps / taps.sum()).astype(np.float32)
        self.smooth.weight = mx.array(taps.reshape(1, 5, 1))   # (out, k, in)
        self.c1 = nn.Conv1d(2, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(16 * (WINDOW // 2), 1)

    def __call__(self, x):
        s = self.smooth(x)
        h = mx.concatenate([x, s], axis=-1)      # raw and smoothed channels
        h = nn.gelu(self.c1(h))
        h = nn.gelu(self.c2(h))
        return self.head(h.reshape(h.shape[0], -1))


def mse_loss(model, X, y):
    return mx.mean((model(X) - y) ** 2)


def evaluate(model, X, y, std):
    preds = []
    for s in range(0, len(X), 512):
        preds.append(np.array(model(mx.array(X[s:s + 512]))))
    p = np.concatenate(preds)
    rmse = float(np.sqrt(np.mean((p - y) ** 2))) * std
    persistence = float(np.sqrt(np.mean((X[:, -1, :] - y) ** 2))) * std
    skill = 1.0 - rmse / persistence  # > 0 means better than "same as the last sample"
    return rmse, persistence, skill


def main():
    mx.random.seed(0)
    np.random.seed(0)
    core = synth_core()
    mean, std = float(core.mean()), float(core.std())
    X, y = make_windows(core, mean, std)
    tr, te = blocked_split(len(X))
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    log.info("windows: train=%d test=%d  (window=%d, std=%.3f per mil)", len(Xtr), len(Xte), WINDOW, std)

    model = Forecaster()
    model.smooth.freeze()
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters: %d trainable of %d (smoothing filter frozen)", n_train, n_all)

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, end=PEAK_LR * 0.05)],
        [WARMUP],
    )
    opt = optim.Adam(learning_rate=schedule)
    loss_and_grad = nn.value_and_grad(model, mse_loss)
    frozen_before = np.array(model.smooth.weight)

    rmse, pers, skill = evaluate(model, Xte, yte, std)
    log.info("before training: test_rmse=%.3f permil persistence=%.3f skill=%+.3f", rmse, pers, skill)

    order = np.random.permutation(len(Xtr))
    pos = 0
    running = []
    t0 = time.perf_counter()
    for step in range(1, STEPS + 1):
        if pos + BATCH > len(order):
            order = np.random.permutation(len(Xtr))
            pos = 0
        ids = order[pos:pos + BATCH]
        pos += BATCH
        loss, grads = loss_and_grad(model, mx.array(Xtr[ids]), mx.array(ytr[ids]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        lr_now = opt.learning_rate.item()  # the rate this step was taken with
        if step % REPORT_EVERY == 0:
            rmse, pers, skill = evaluate(model, Xte, yte, std)
            log.info("step=%d lr=%.2e train_mse(z)=%.4f test_rmse=%.3f permil skill=%+.3f (%.1fs)",
                     step, lr_now, sum(running) / len(running), rmse, skill, time.perf_counter() - t0)
            running = []

    drift = float(np.abs(np.array(model.smooth.weight) - frozen_before).max())
    log.info("done: final test_rmse=%.3f permil vs persistence %.3f; frozen filter max change %.1e",
             rmse, pers, drift)


if __name__ == "__main__":
    main()
