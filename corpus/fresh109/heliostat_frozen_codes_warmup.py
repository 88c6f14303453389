"""Heliostat aim-error model: predict the (dx, dy) aim-point error in mm of each
mirror from the sun position. Each heliostat has a FIXED random identity code
(an nn.Embedding table we freeze on purpose, so codes stay comparable across
plant re-calibrations); only the correction MLP trains. LR warms up from 0."""
import logging
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s [aim] %(message)s")
log = logging.getLogger("aim")

N_HELIO, CODE = 40, 8
RECEIVER_RADIUS_MM = 25.0


class AimModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.codes = nn.Embedding(N_HELIO, CODE)
        self.body = nn.Sequential(nn.Linear(4 + CODE, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))

    def __call__(self, sun, hid):
        return self.body(mx.concatenate([sun, self.codes(hid)], axis=-1))


def simulate(n, rng, tilt):
    az = rng.uniform(-math.pi / 2, math.pi / 2, n)
    el = rng.uniform(0.1, 1.3, n)
    hid = rng.integers(0, N_HELIO, n)
    t = tilt[hid]
    dx = 80 * t[:, 0] * np.sin(az) + 30 * np.cos(el) * t[:, 1] + rng.normal(0, 8, n)
    dy = 70 * t[:, 1] * np.cos(az) * np.sin(el) - 25 * t[:, 0] + rng.normal(0, 8, n)
    sun = np.stack([np.sin(az), np.cos(az), np.sin(el), np.cos(el)], 1).astype(np.float32)
    return sun, hid.astype(np.int32), (np.stack([dx, dy], 1) / 100.0).astype(np.float32)


def spill_pct(pred, target):
    # share of shots whose corrected aim still misses the receiver (lower is better)
    miss = np.linalg.norm((np.array(target) - np.array(pred)) * 100.0, axis=1) > RECEIVER_RADIUS_MM
    return 100.0 * miss.mean()


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    tilt = rng.normal(0, 1, (N_HELIO, 2))
    tr = simulate(12000, rng, tilt)
    va = simulate(3000, rng, tilt)

    model = AimModel()
    model.codes.freeze()
    mx.eval(model.parameters())
    codes_before = np.array(model.codes.weight)

    warm, total = 150, 1500
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                                  optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, sun, hid, y):
        return nn.losses.mse_loss(m(sun, hid), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    va_x = (mx.array(va[0]), mx.array(va[1]))
    log.info("untrained spill=%.1f%% (no correction at all: %.1f%%)",
             spill_pct(model(*va_x), va[2]), spill_pct(np.zeros_like(va[2]), va[2]))

    bs, t0, window = 128, time.time(), []
    for step in range(1, total + 1):
        idx = rng.integers(0, len(tr[0]), bs)
        loss, grads = vg(model, mx.array(tr[0][idx]), mx.array(tr[1][idx]), mx.array(tr[2][idx]))
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
            log.info("grad check: %d trainable leaves, zero-grad leaves=%s, lr at step 1=%.1e",
                     len(flat), zero or "none", float(sched(mx.array(0)).item()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 150 == 0:
            pred = model(*va_x)
            val = float(nn.losses.mse_loss(pred, mx.array(va[2])).item())
            log.info("step %4d lr=%.2e train_mse=%.4f val_mse=%.4f spill=%.1f%% (%.1fs)",
                     step, float(opt.learning_rate.item()), np.mean(window), val,
                     spill_pct(pred, va[2]), time.time() - t0)
            window = []

    drift = float(np.abs(np.array(model.codes.weight) - codes_before).max())
    log.info("done: frozen identity codes max drift=%.1e", drift)


if __name__ == "__main__":
    main()
