"""Hiking GPS logs: total ascent (metres climbed) of a track from its noisy
per-segment altitude changes, learned by a GRU with a LENGTH CURRICULUM.

Tracks start short (4 segments) and get longer (8, 16, 32). Total ascent grows
with the track, so the squared error in m^2 jumps up at every new length and
then falls again; the relative error (% of the true ascent) is the fair metric.
"""
import math
import time
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SCALE = 10.0  # metres per model unit


def make_tracks(rng, n, length):
    # true altitude steps: rolling terrain with occasional climbs
    trend = rng.normal(0.0, 6.0, size=(n, 1))
    steps = trend + rng.normal(0.0, 12.0, size=(n, length))
    climbs = rng.random((n, length)) < 0.1
    steps = steps + climbs * rng.gamma(2.0, 15.0, size=(n, length))
    ascent = np.maximum(steps, 0.0).sum(axis=1)               # what the watch should report
    noisy = steps + rng.normal(0.0, 2.0, size=steps.shape)    # barometer noise
    x = np.stack([noisy / SCALE, np.abs(noisy) / SCALE], axis=-1).astype(np.float32)
    return x, (ascent / SCALE).astype(np.float32)


class AscentGRU(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(2, 16)
        self.rnn = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.rnn(nn.relu(self.inp(x)))          # (N, L, H)
        # per-step contributions summed over the track: length-agnostic
        return self.out(h).squeeze(-1).sum(axis=1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def metrics(model, x, y):
    p = model(x)
    err = (p - y) * SCALE
    mse = mx.mean(err * err)
    rel = mx.mean(mx.abs(err)) / mx.mean(y * SCALE)
    mx.eval(mse, rel)
    return mse.item(), math.sqrt(mse.item()), 100.0 * rel.item()


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model = AscentGRU()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)

    schedule = [(4, 300), (8, 250), (16, 200), (32, 200)]
    holdout = {L: make_tracks(np.random.default_rng(100 + L), 1000, L) for L, _ in schedule}
    holdout = {L: (mx.array(a), mx.array(b)) for L, (a, b) in holdout.items()}
    print(f"curriculum: {[L for L, _ in schedule]} segments, steps {[s for _, s in schedule]}")

    gstep = 0
    for stage, (L, n_steps) in enumerate(schedule, 1):
        xs, ys = make_tracks(rng, 8000, L)
        X, Y = mx.array(xs), mx.array(ys)
        mse0, rmse0, rel0 = metrics(model, *holdout[L])
        print(f"=== stage {stage}: {L} segments | before: mse {mse0:9.1f} m^2  rmse {rmse0:6.1f} m  rel {rel0:5.1f} %")
        window = []
        for it in range(1, n_steps + 1):
            idx = mx.array(rng.integers(0, X.shape[0], size=64))
            loss, grads = vg(model, X[idx], Y[idx])
            if gstep == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"first step: {len(flat)} gradient leaves, zero: {zero if zero else 'none'}")
            grads, gnorm = optim.clip_grad_norm(grads, max_norm=5.0)
            opt.update(model, grads)
            mx.eval(loss, gnorm, model.parameters(), opt.state)
            window.append(loss.item())
            gstep += 1
            if it % 50 == 0:
                mse, rmse, rel = metrics(model, *holdout[L])
                print(f"  it {it:04d} (step {gstep:04d}) | huber {np.mean(window):.4f} | "
                      f"mse {mse:9.1f} m^2 | rmse {rmse:6.1f} m | rel {rel:5.1f} % | |g| {gnorm.item():.2f}")
                window = []

    print("--- final, all lengths")
    for L in holdout:
        mse, rmse, rel = metrics(model, *holdout[L])
        naive = holdout[L][1] * 0 + mx.mean(holdout[L][1])
        base = float(mx.sqrt(mx.mean(((naive - holdout[L][1]) * SCALE) ** 2)))
        print(f"  {L:2d} segments: rmse {rmse:6.1f} m (predict-mean {base:6.1f} m)  rel {rel:5.1f} %")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
