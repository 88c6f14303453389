"""Where will the weather vane point in an hour?

A hilltop station logs the vane angle and the anemometer every hour.  From the
last 12 hours we predict next hour's wind direction.  Direction is an angle, so
the net outputs a 2-vector that we normalise to (cos, sin) and the loss is
1 - cos(predicted - observed)  (0 = perfect, 2 = pointing the opposite way).
Evaluation uses a Polyak (exponential moving average) copy of the weights.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

HIST = 12


def simulate_station(hours, rng):
    """Direction drifts with a slow synoptic veer plus a daily sea breeze."""
    theta = np.zeros(hours)
    speed = np.zeros(hours)
    veer = 0.0
    for t in range(1, hours):
        veer = 0.97 * veer + rng.normal(0, 0.02)
        breeze = 0.18 * math.sin(2 * math.pi * (t % 24) / 24.0)
        speed[t] = max(0.5, 6 + 3 * math.sin(2 * math.pi * t / 24.0 + 1)
                       + rng.normal(0, 1.2))
        gust = rng.normal(0, 0.5 / speed[t])  # light wind -> vane wanders
        theta[t] = theta[t - 1] + veer + breeze * 0.3 + gust
    return np.mod(theta, 2 * math.pi), speed


def windows(theta, speed):
    xs, ys = [], []
    hour = np.arange(len(theta))
    for t in range(HIST, len(theta) - 1):
        sl = slice(t - HIST, t)
        feats = np.stack([np.cos(theta[sl]), np.sin(theta[sl]),
                          speed[sl] / 10.0,
                          np.cos(2 * np.pi * hour[sl] / 24),
                          np.sin(2 * np.pi * hour[sl] / 24)], -1)
        xs.append(feats)
        ys.append(theta[t])
    return np.array(xs, np.float32), np.array(ys, np.float32)


class VaneGRU(nn.Module):
    def __init__(self, d_in=5, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(d_in, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x):
        h = self.rnn(x)[:, -1, :]
        v = self.out(h)
        return v / (mx.linalg.norm(v, axis=-1, keepdims=True) + 1e-6)


def cosine_loss(model, x, angle):
    v = model(x)
    cos_err = v[:, 0] * mx.cos(angle) + v[:, 1] * mx.sin(angle)
    return mx.mean(1.0 - cos_err)


def angular_error_deg(model, x, angle):
    v = model(x)
    pred = mx.arctan2(v[:, 1], v[:, 0])
    d = mx.abs(mx.arctan2(mx.sin(pred - angle), mx.cos(pred - angle)))
    return float(mx.mean(d)) * 180.0 / math.pi, float(cosine_loss(model, x, angle))


def main():
    t0 = time.time()
    rng = np.random.default_rng(4118)
    mx.random.seed(4118)
    theta, speed = simulate_station(7000, rng)
    X, Y = windows(theta, speed)
    split = int(0.8 * len(X))
    xtr, ytr = mx.array(X[:split]), mx.array(Y[:split])
    xva, yva = mx.array(X[split:]), mx.array(Y[split:])

    # persistence forecast: the vane keeps pointing where it points now
    last = np.arctan2(X[split:, -1, 1], X[split:, -1, 0])
    diff = np.arctan2(np.sin(last - Y[split:]), np.cos(last - Y[split:]))
    persist_deg = float(np.mean(np.abs(diff))) * 180 / math.pi

    model = VaneGRU()
    mx.eval(model.parameters())
    polyak = VaneGRU()
    polyak.update(tree_map(lambda p: mx.array(p), model.parameters()))
    decay = 0.98

    lag = nn.value_and_grad(model, cosine_loss)
    _, g0 = lag(model, xtr[:64], ytr[:64])
    zero = [k for k, g in tree_flatten(g0) if not bool(mx.any(g != 0))]
    print(f"windows: train {split}, val {len(X) - split}; "
          f"persistence error {persist_deg:.1f} deg")
    print(f"step-1 gradients: {len(tree_flatten(g0))} leaves, "
          f"{len(zero)} all-zero {zero}")

    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    batch, epochs = 64, 10
    n = split
    print(f"{'epoch':>5} {'lr':>8} {'train 1-cos':>12} {'val 1-cos':>10} "
          f"{'val deg':>8} {'ema deg':>8} {'secs':>6}")
    for epoch in range(1, epochs + 1):
        if epoch == 7:
            opt.learning_rate = 1e-3  # step decay for the last epochs
        perm = mx.random.permutation(n)
        run, k = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = lag(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            polyak.update(tree_map(lambda e, p: decay * e + (1 - decay) * p,
                                   polyak.parameters(), model.parameters()))
            mx.eval(model.parameters(), polyak.parameters(), opt.state, loss)
            run += loss.item()
            k += 1
        deg, vloss = angular_error_deg(model, xva, yva)
        edeg, _ = angular_error_deg(polyak, xva, yva)
        print(f"{epoch:>5} {opt.learning_rate.item():>8.1e} {run / k:>12.4f} "
              f"{vloss:>10.4f} {deg:>8.1f} {edeg:>8.1f} "
              f"{time.time() - t0:>6.1f}")

    edeg, eloss = angular_error_deg(polyak, xva, yva)
    print(f"final (Polyak weights): {edeg:.1f} deg mean error vs "
          f"{persist_deg:.1f} deg for persistence, 1-cos {eloss:.4f}")


if __name__ == "__main__":
    main()
