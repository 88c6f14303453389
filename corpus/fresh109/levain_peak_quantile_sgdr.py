"""Sourdough levain: predict hours until the starter peaks, as an 80% interval.

Non-crossing quantile regression (q10 / q50 / q90) trained with SGD + Nesterov
momentum under SGDR (cosine warm restarts, cycle lengths 2, 4, 8 epochs).
At every restart the learning rate jumps back up, so the training pinball
loss bumps up for an epoch before it falls again.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

QUANTILES = (0.1, 0.5, 0.9)


def make_bakes(n, rng):
    # temperature C, hydration %, feed ratio (flour:starter), rye share,
    # starter age days, hours since last refresh
    temp = rng.uniform(18, 30, n)
    hyd = rng.uniform(60, 110, n)
    ratio = rng.choice([1.0, 2.0, 3.0, 5.0, 10.0], n)
    rye = rng.uniform(0, 0.5, n)
    age = rng.uniform(5, 400, n)
    since = rng.uniform(4, 48, n)
    # made-up law: doubling time shrinks with warmth, rye, hydration, age
    base = 4.5 * np.exp(-0.085 * (temp - 24)) * (1 + 0.35 * np.log(ratio))
    base *= (1 - 0.45 * rye) * (1 - 0.002 * (hyd - 80)) * (1 + 0.6 / np.sqrt(age))
    base *= 1 + 0.006 * np.maximum(since - 24, 0)
    # skewed noise: sluggish starters run late more often than early
    noise = rng.gamma(2.0, 0.08, n) - 0.16
    hours = base * np.exp(noise)
    X = np.stack([temp, hyd, np.log(ratio), rye, np.log(age), since], 1)
    return X.astype(np.float32), hours.astype(np.float32)


class PeakQuantiles(nn.Module):
    def __init__(self, d_in, hidden=128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
        )
        self.head = nn.Linear(hidden, len(QUANTILES))

    def __call__(self, x):
        raw = self.head(self.body(x))
        # q10 free, then add positive gaps: quantiles can never cross
        first = raw[:, :1]
        gaps = nn.softplus(raw[:, 1:])
        return mx.concatenate([first, first + mx.cumsum(gaps, axis=1)], axis=1)


def pinball(pred, y):
    taus = mx.array(QUANTILES)
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(taus * diff, (taus - 1.0) * diff))


def sgdr_lr(epoch_float, lr_max=0.05, lr_min=5e-4, first=2, mult=2):
    start, length, cycle = 0.0, first, 0
    while epoch_float >= start + length:
        start += length
        length *= mult
        cycle += 1
    t = (epoch_float - start) / length
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t)), cycle


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    X, y = make_bakes(24000, rng)
    Xv, yv = make_bakes(1500, rng)
    mu, sd = X.mean(0), X.std(0)
    X, Xv = (X - mu) / sd, (Xv - mu) / sd
    ymu, ysd = float(y.mean()), float(y.std())
    ys, yvs = (y - ymu) / ysd, (yv - ymu) / ysd

    model = PeakQuantiles(X.shape[1])
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    def loss_fn(m, xb, yb):
        return pinball(m(xb), yb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    Xv_m, yv_m = mx.array(Xv), mx.array(yvs)

    def validate():
        q = model(Xv_m)
        vloss = pinball(q, yv_m).item()
        qh = np.array(q) * ysd + ymu
        inside = np.mean((yv >= qh[:, 0]) & (yv <= qh[:, 2])) * 100
        width = np.mean(qh[:, 2] - qh[:, 0])
        mae = np.mean(np.abs(qh[:, 1] - yv))
        return vloss, inside, width, mae

    Xm, ysm = mx.array(X), mx.array(ys)
    batch = 64
    steps_per_epoch = len(X) // batch
    epochs = 14  # 2 + 4 + 8
    print(f"bakes: {len(X)} train / {len(Xv)} valid, peak time {y.min():.1f}-{y.max():.1f} h")
    v0 = validate()
    print(f"untrained: valid pinball {v0[0]:.4f}  80%-interval holds {v0[1]:.1f}% of bakes")

    # first-step check: every leaf of the net must receive gradient
    xb, yb = mx.array(X[:batch]), mx.array(ys[:batch])
    _, g = loss_and_grad(model, xb, yb)
    zero = [k for k, v in tree_flatten(g) if float(mx.max(mx.abs(v))) == 0.0]
    print(f"grad check: {len(tree_flatten(g)) - len(zero)}/{len(tree_flatten(g))} leaves non-zero {zero}")

    print(f"{'cyc':>3} {'ep':>3} {'lr@start':>9} {'train pin':>10} {'valid pin':>10} "
          f"{'in 80% int':>11} {'width h':>8} {'q50 MAE h':>10}")
    t0 = time.time()
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(len(X))
        lr_start, cyc = sgdr_lr(ep)
        run, n = 0.0, 0
        for b in range(steps_per_epoch):
            lr, _ = sgdr_lr(ep + b / steps_per_epoch)
            opt.learning_rate = lr
            idx = mx.array(perm[b * batch:(b + 1) * batch])
            loss, grads = loss_and_grad(model, Xm[idx], ysm[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            n += 1
            step += 1
        vl, inside, width, mae = validate()
        print(f"{cyc:>3} {ep + 1:>3} {lr_start:>9.4f} {run / n:>10.4f} {vl:>10.4f} "
              f"{inside:>10.1f}% {width:>8.2f} {mae:>10.3f}")
    print(f"done: {step} steps in {time.time() - t0:.1f}s; target coverage is 80%")


if __name__ == "__main__":
    main()
