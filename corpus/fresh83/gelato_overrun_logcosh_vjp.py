"""Gelato lab: predict churn overrun (% air) from a batch sheet.

A log-cosh loss with a hand-written VJP (mx.custom_function); the input
standardiser lives inside the model as a frozen sub-module; the run is silent
while training and draws an ASCII bar chart of validation error at the end.
"""
import math
import time
from contextlib import contextmanager

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


@contextmanager
def stopwatch(store, key):
    t0 = time.perf_counter()
    yield
    store[key] = time.perf_counter() - t0


def make_batches(n, rng):
    fat = rng.uniform(4, 14, n)            # butterfat %
    sugar = rng.uniform(14, 24, n)         # sugar %
    stab = rng.uniform(0.0, 0.5, n)        # stabiliser %
    temp = rng.uniform(-8, -3, n)          # draw temperature C
    speed = rng.uniform(60, 200, n)        # dasher rpm
    minutes = rng.uniform(6, 16, n)        # churn time
    over = (18 + 2.1 * fat - 0.9 * (sugar - 18) + 40 * stab * (1 - np.exp(-minutes / 6))
            + 0.08 * speed - 1.6 * (temp + 5.5) ** 2 + 0.02 * fat * speed / 10)
    over = over + rng.standard_t(4, n) * 2.0   # heavy-tailed lab noise
    x = np.stack([fat, sugar, stab, temp, speed, minutes], 1).astype(np.float32)
    return x, over.astype(np.float32)


@mx.custom_function
def logcosh(d):
    # log(cosh(d)) computed stably
    a = mx.abs(d)
    return a + mx.log1p(mx.exp(-2 * a)) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(primals, cotangent, output):
    d = primals  # single input: the array itself
    return cotangent * mx.tanh(d)


class Standardise(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = mx.array(mean)
        self.std = mx.array(std)

    def __call__(self, x):
        return (x - self.mean) / self.std


class OverrunNet(nn.Module):
    def __init__(self, mean, std, hidden=64):
        super().__init__()
        self.norm = Standardise(mean, std)
        self.l1 = nn.Linear(6, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(self.norm(x)))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    rng = np.random.default_rng(83)
    xtr, ytr = make_batches(10000, rng)
    xva, yva = make_batches(2000, rng)
    ymu, ysd = float(ytr.mean()), float(ytr.std())

    mx.random.seed(6)
    net = OverrunNet(xtr.mean(0), xtr.std(0) + 1e-6)
    net.norm.freeze()          # data statistics are fixed, not learned
    mx.eval(net.parameters())
    frozen_before = {k: np.array(v) for k, v in tree_flatten(net.norm.parameters())}

    Xtr, Ytr = mx.array(xtr), mx.array((ytr - ymu) / ysd)
    Xva = mx.array(xva)

    def loss_fn(model, x, y):
        return logcosh(model(x) - y).mean()

    def val_mae():
        pred = np.array(net(Xva)) * ysd + ymu
        return float(np.abs(pred - yva).mean())

    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    vg = nn.value_and_grad(net, loss_fn)

    # one-off gradient audit on the first batch
    _, g0 = vg(net, Xtr[:128], Ytr[:128])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]

    timings = {}
    history = [("untrained", val_mae())]
    bs, n = 128, xtr.shape[0]
    with stopwatch(timings, "train"):
        for epoch in range(1, 13):
            perm = mx.array(rng.permutation(n))
            tot, cnt = 0.0, 0
            for s in range(0, n - bs + 1, bs):
                idx = perm[s:s + bs]
                loss, grads = vg(net, Xtr[idx], Ytr[idx])
                opt.update(net, grads)
                mx.eval(net.parameters(), opt.state, loss)
                tot += loss.item(); cnt += 1
            history.append((f"epoch {epoch:2d}", val_mae(), tot / cnt))

    drift = max(float(np.abs(np.array(v) - frozen_before[k]).max())
                for k, v in tree_flatten(net.norm.parameters()))
    print(f"gelato overrun model: {len(leaves)} trainable leaves, zero-gradient leaves: {zero or 'none'}")
    print(f"trained 12 epochs in {timings['train']:.1f}s; target sd {ysd:.2f} %-points, predict-mean MAE "
          f"{np.abs(yva - ymu).mean():.2f}")
    print("validation MAE (overrun %-points), shorter bar is better:")
    top = max(h[1] for h in history)
    for h in history:
        bar = "#" * max(1, int(round(40 * h[1] / top)))
        extra = f"  train logcosh {h[2]:.4f}" if len(h) > 2 else ""
        print(f"  {h[0]:>9} | {bar:<40} {h[1]:6.3f}{extra}")
    print(f"standardiser max drift (frozen): {drift:.1f}")


if __name__ == "__main__":
    main()
