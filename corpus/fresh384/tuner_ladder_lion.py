"""Strobe-tuner trainer: flat / in tune / sharp from a harmonic comb, with a detuning ladder."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s.%(msecs)03d tuner %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("tuner")
rng = np.random.default_rng(11)
mx.random.seed(11)

BINS = 48            # 2.5 cents per bin, reference pitch at bin 24
CENTS_PER_BIN = 2.5
NAMES = ["flat", "in tune", "sharp"]


def comb(n, max_off):
    """Three harmonics, each a bump near the reference position shifted by the detune."""
    y = rng.integers(0, 3, n)
    mag = rng.uniform(0.5 * max_off, max_off, n)
    cents = np.where(y == 0, -mag, np.where(y == 2, mag, rng.uniform(-1.5, 1.5, n)))
    grid = np.arange(BINS)[None, :]
    x = np.zeros((n, 3, BINS), np.float32)
    for h in range(3):
        centre = 24 + cents / CENTS_PER_BIN + rng.normal(0, 0.6, n)   # inharmonicity jitter
        width = 1.2 + 0.4 * h
        amp = rng.uniform(0.4, 1.0, n) / (h + 1)
        x[:, h, :] = amp[:, None] * np.exp(-0.5 * ((grid - centre[:, None]) / width) ** 2)
    x += rng.normal(0, 0.05, x.shape)
    x /= x.max(axis=(1, 2), keepdims=True)
    # channels last for Conv1d: (N, L, C)
    return mx.array(x.transpose(0, 2, 1)), mx.array(y), cents


class StrobeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 12, 5, padding=2)
        self.c2 = nn.Conv1d(12, 24, 5, padding=2, stride=2)
        self.head = nn.Linear(24 * 24, 3)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return self.head(h.reshape(h.shape[0], -1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return 100.0 * mx.mean(mx.argmax(model(x), -1) == y).item()


LADDER = [40.0, 20.0, 10.0, 6.0]        # max detune in cents at each rung
STEPS, B = 180, 48
X_hard, Y_hard, _ = comb(1200, 6.0)      # the final rung, held constant
X_easy, Y_easy, _ = comb(1200, 40.0)

model = StrobeNet()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
log.info(f"chance 33.3% | untrained: easy {acc(model, X_easy, Y_easy):.1f}% hard {acc(model, X_hard, Y_hard):.1f}%")
t0 = time.time()
for rung, max_off in enumerate(LADDER, 1):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 5e-4, 40), optim.cosine_decay(5e-4, STEPS - 40, 5e-5)], [40])
    opt = optim.Lion(learning_rate=sched, betas=[0.9, 0.99], weight_decay=1e-2)
    Xr, Yr, _ = comb(4000, max_off)
    log.info(f"--- rung {rung}/{len(LADDER)}: detune {max_off / 2:.0f}-{max_off:.0f} cents | {STEPS} steps, lr restarts at 0 ---")
    losses = []
    for s in range(STEPS):
        idx = mx.array(rng.integers(0, Xr.shape[0], B))
        loss, g = vg(model, Xr[idx], Yr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    log.info(f"    rung {rung} done: ce first30 {np.mean(losses[:30]):.3f} last30 {np.mean(losses[-30:]):.3f} | "
             f"rung acc {acc(model, Xr[:1200], Yr[:1200]):.1f}% | easy {acc(model, X_easy, Y_easy):.1f}% | "
             f"hard {acc(model, X_hard, Y_hard):.1f}% | {time.time() - t0:.1f}s")

pred = np.array(mx.argmax(model(X_hard), -1))
yt = np.array(Y_hard)
for c in range(3):
    log.info(f"hard-set recall {NAMES[c]:>7}: {100 * np.mean(pred[yt == c] == c):.1f}%")
log.info(f"finished: hard {acc(model, X_hard, Y_hard):.1f}% vs chance 33.3%")
