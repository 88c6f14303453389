"""Paragliding: predict the 10/50/90% quantiles of thermal climb rate (m/s).

Features per flight-log thermal: hour of day, cloud base (km), ground
temperature (C), lapse rate (C/km), wind (m/s), pilot wing-loading (kg/m2).
The climb rate is heteroscedastic, so a band is more useful than a point.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

QS = (0.1, 0.5, 0.9)


def make_logs(n, rng):
    hour = rng.uniform(9.0, 18.0, n)
    base = rng.uniform(0.8, 3.2, n)
    tground = rng.uniform(12.0, 34.0, n)
    lapse = rng.uniform(5.0, 9.8, n)
    wind = rng.gamma(2.0, 2.0, n)
    wload = rng.uniform(3.8, 5.2, n)
    sun = np.clip(np.sin(math.pi * (hour - 8.0) / 11.0), 0.0, None)
    mean = (0.25 + 1.6 * sun * (lapse - 5.0) / 4.8 + 0.45 * base
            + 0.03 * (tground - 20.0) - 0.10 * np.maximum(wind - 4.0, 0.0)
            - 0.35 * (wload - 4.5))
    spread = 0.15 + 0.35 * sun + 0.06 * wind
    climb = mean + spread * rng.standard_normal(n)
    x = np.stack([hour, base, tground, lapse, wind, wload], 1)
    return x.astype(np.float32), climb.astype(np.float32)


class BandNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.mid = nn.Linear(hidden, 1)
        self.gaps = nn.Linear(hidden, 2)  # lower / upper offsets, kept positive

    def __call__(self, x):
        h = self.body(x)
        m = self.mid(h)
        g = nn.softplus(self.gaps(h)) + 1e-3
        return mx.concatenate([m - g[:, :1], m, m + g[:, 1:]], axis=1)


def pinball(pred, y):
    q = mx.array(QS)
    err = y[:, None] - pred
    return mx.mean(mx.maximum(q * err, (q - 1.0) * err))


def band_stats(model, x, y):
    p = model(x)
    inside = mx.logical_and(y >= p[:, 0], y <= p[:, 2])
    cover = 100.0 * mx.mean(inside.astype(mx.float32)).item()
    width = mx.mean(p[:, 2] - p[:, 0]).item()
    mae = mx.mean(mx.abs(p[:, 1] - y)).item()
    return pinball(p, y).item(), cover, width, mae


def main():
    rng = np.random.default_rng(11)
    xtr, ytr = make_logs(20000, rng)
    xte, yte = make_logs(2500, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))

    mx.random.seed(3)
    model = BandNet(6)
    mx.eval(model.parameters())

    epochs, bs = 12, 128
    steps_per_epoch = len(xtr) // bs
    total = epochs * steps_per_epoch
    warm = 150
    lr = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm),
         optim.cosine_decay(3e-4, total - warm, 1e-5)], [warm])
    opt = optim.Lion(learning_rate=lr, weight_decay=1e-3)

    def loss_fn(m, xb, yb):
        return pinball(m(xb), yb)

    step_fn = nn.value_and_grad(model, loss_fn)

    # first-step gradient audit (the lr of the first update is 0 by design)
    l0, g0 = step_fn(model, Xtr[:bs], Ytr[:bs])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    print(f"thermals: {len(xtr)} train / {len(xte)} test, features=6, quantiles={QS}")
    print(f"step-1 check: loss {l0.item():.4f}, {len(leaves)} grad leaves, zero: {zero or 'none'}, "
          f"lr(first update)={float(lr(mx.array(0))):.1e}")
    print()
    print("| epoch | lr_end | train_pinball | test_pinball | band_10_90_cover | band_width_mps | median_mae_mps | s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    t0 = time.time()
    tp, cov, wid, mae = band_stats(model, Xte, Yte)
    print(f"| 0 | - | - | {tp:.4f} | {cov:.1f}% | {wid:.3f} | {mae:.3f} | 0.0 |")

    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(xtr)))
        run, n = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            n += 1
        tp, cov, wid, mae = band_stats(model, Xte, Yte)
        print(f"| {ep} | {opt.learning_rate.item():.2e} | {run / n:.4f} | {tp:.4f} | {cov:.1f}% | "
              f"{wid:.3f} | {mae:.3f} | {time.time() - t0:.1f} |")

    print()
    print(f"done: nominal band coverage is 80%, reached {cov:.1f}% on held-out thermals")


if __name__ == "__main__":
    main()
