"""Courier ETA regression: predict delivery minutes from route features.

Robust regression with a hand-written Smooth-L1 (Huber-style) loss, beta = 1/9
as in Fast R-CNN box regression, plain SGD with momentum.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)


def make_routes(n):
    dist_km = rng.gamma(2.0, 2.5, n)
    stops = rng.integers(1, 9, n).astype(np.float64)
    traffic = rng.uniform(0.0, 1.0, n)
    hour = rng.uniform(7, 22, n)
    minutes = 6.0 + 3.2 * dist_km * (1.0 + 0.8 * traffic) + 2.5 * stops
    minutes += 6.0 * np.exp(-((hour - 18.0) ** 2) / 4.0)
    noise = rng.normal(0.0, 2.0, n)
    late = rng.random(n) < 0.06          # a few parcels get stuck at a depot
    noise[late] += rng.exponential(25.0, late.sum())
    y = minutes + noise
    x = np.stack([
        dist_km / 5.0,
        (stops - 4.5) / 2.3,
        traffic * 2.0 - 1.0,
        np.sin(2 * math.pi * hour / 24.0),
        np.cos(2 * math.pi * hour / 24.0),
    ], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


def smooth_l1(pred, target, beta=1.0 / 9.0):
    diff = pred - target
    loss = mx.where(diff < beta, 0.5 * diff * diff / beta, mx.abs(diff) - 0.5 * beta)
    return loss.mean()


class EtaNet(nn.Module):
    def __init__(self, d_in=5, width=160):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    mx.random.seed(0)
    xtr, ytr = make_routes(6000)
    xva, yva = make_routes(800)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    model = EtaNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9)

    def loss_fn(m, xb, yb):
        return smooth_l1(m(xb), yb)

    step = nn.value_and_grad(model, loss_fn)
    bs = 64
    n = xtr.shape[0]
    t0 = time.time()
    print("epoch | smoothL1(train) | val MAE (min) | val median AE | sec")
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        err = mx.abs(model(xva) - yva)
        mae = err.mean().item()
        med = float(np.median(np.array(err)))
        print(f"{epoch:5d} | {tot / cnt:15.4f} | {mae:13.3f} | {med:13.3f} | {time.time() - t0:4.1f}")
    print(f"final val MAE {mae:.3f} min (predict-the-median baseline "
          f"{float(np.mean(np.abs(np.array(yva) - np.median(np.array(ytr))))):.3f} min)")


if __name__ == "__main__":
    main()
