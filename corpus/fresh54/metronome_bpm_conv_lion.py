"""Tempo (BPM) estimation from synthetic metronome onset envelopes.

Each example is a 5.12 s onset-strength envelope (25 Hz, 128 frames): click
pulses every 60/bpm seconds with timing jitter, random accents, spurious
onsets and background noise.  A small strided Conv1d net regresses log(BPM).
Optimiser: Lion under a cosine schedule.  One log line per epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FS, N = 25.0, 128
BPM_LO, BPM_HI = 70.0, 170.0


def make_batch(rng, n):
    bpm = rng.uniform(BPM_LO, BPM_HI, size=n)
    t = np.arange(N) / FS
    period = 60.0 / bpm
    k = np.arange(16)
    beats = rng.uniform(0, 1, size=(n, 1)) * period[:, None] + k[None] * period[:, None]
    beats += rng.normal(0, 0.008, size=beats.shape)
    amp = np.where(k[None] % 4 == 0, 1.0, rng.uniform(0.4, 0.8, size=(n, 16)))
    spur_t = rng.uniform(0, N / FS, size=(n, 3))
    spur_a = rng.uniform(0.2, 0.6, size=(n, 3)) * (rng.uniform(size=(n, 3)) < 0.5)
    pulse = lambda c: np.exp(-0.5 * ((t[None, None, :] - c[..., None]) / 0.04) ** 2)
    env = (amp[..., None] * pulse(beats)).sum(1) + (spur_a[..., None] * pulse(spur_t)).sum(1)
    env += rng.normal(0.0, 0.08, size=(n, N))
    x = env[..., None].astype(np.float32)
    y = np.log(bpm).astype(np.float32)[:, None]
    return mx.array(x), mx.array(y), bpm


class TempoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = [
            nn.Conv1d(1, 12, kernel_size=7, stride=1, padding=3),
            nn.Conv1d(12, 24, kernel_size=7, stride=2, padding=3),
            nn.Conv1d(24, 32, kernel_size=7, stride=2, padding=3),
            nn.Conv1d(32, 48, kernel_size=7, stride=2, padding=3),
        ]
        self.head = nn.Sequential(nn.Linear(96, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, x):
        for c in self.convs:
            x = nn.gelu(c(x))
        feats = mx.concatenate([x.mean(axis=1), x.max(axis=1)], axis=-1)
        return self.head(feats) + math.log(110.0)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.1, reduction="mean")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xv, yv, bpm_v = make_batch(np.random.default_rng(999), 400)
    model = TempoNet()
    mx.eval(model.parameters())

    epochs, steps_per_epoch, bs = 10, 40, 64
    sched = optim.cosine_decay(6e-4, epochs * steps_per_epoch, end=3e-5)
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    x0, y0, _ = make_batch(rng, bs)
    _, g0 = vg(model, x0, y0)
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
    print(f"BPM> gradient check: {len(flat)} leaves, {len(zero)} all-zero {zero}")
    guess = np.exp(np.log(bpm_v).mean())
    print(f"BPM> constant-guess baseline: val MAE {np.abs(bpm_v - guess).mean():.2f} bpm")

    t0 = time.time()
    for ep in range(1, epochs + 1):
        run = 0.0
        for _ in range(steps_per_epoch):
            x, y, _ = make_batch(rng, bs)
            loss, grads = vg(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = np.exp(np.array(model(xv)).ravel())
        err = np.abs(pred - bpm_v)
        print(f"BPM> epoch {ep:02d} | train huber {run / steps_per_epoch:.4f} | val MAE {err.mean():5.2f} bpm"
              f" | within 3 bpm {100 * (err <= 3).mean():4.1f}% | lr {opt.learning_rate.item():.2e}"
              f" | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
