"""Cheese cave: predict how many mould colonies show on a wheel's rind at inspection.

Poisson regression with a small MLP, trained with a compiled step, linear warm-up
from lr 0, early stopping that restores the best weights.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


def make_wheels(n, rng):
    humid = rng.uniform(0.80, 0.98, n)      # relative humidity
    temp = rng.uniform(8.0, 16.0, n)        # deg C
    weeks = rng.uniform(2.0, 30.0, n)       # age
    salt = rng.uniform(1.2, 2.8, n)         # % salt
    turns = rng.integers(0, 8, n)           # turns per week
    brushed = rng.integers(0, 2, n)         # brushed rind flag
    log_rate = (
        -1.0 + 9.0 * (humid - 0.85) + 0.12 * (temp - 12.0)
        + 0.9 * np.log(weeks / 6.0) - 0.7 * (salt - 2.0)
        - 0.15 * turns - 0.8 * brushed
        + 0.6 * np.sin(weeks / 4.0) * (humid > 0.9)
    )
    counts = rng.poisson(np.exp(log_rate)).astype(np.float32)
    x = np.stack([humid, temp, np.log(weeks), salt, turns, brushed], 1).astype(np.float32)
    return x, counts, np.exp(log_rate).astype(np.float32)


class RindNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)      # log rate


def poisson_nll(eta, y):
    # Poisson negative log-likelihood without the log(y!) constant: can be negative
    return mx.mean(mx.exp(eta) - y * eta)


def deviance(mu, y):
    # mean Poisson deviance (numpy)
    term = np.where(y > 0, y * np.log(np.maximum(y, 1e-12) / mu), 0.0)
    return float(np.mean(2.0 * (term - (y - mu))))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    x, y, _ = make_wheels(7000, rng)
    mean, std = x[:5500].mean(0), x[:5500].std(0) + 1e-6
    x = (x - mean) / std
    xtr, ytr, xva, yva = x[:5500], y[:5500], x[5500:], y[5500:]
    Xva = mx.array(xva)

    model = RindNet(x.shape[1])
    bs = 64
    steps_per_epoch = len(xtr) // bs
    max_epochs = 40
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 300),
         optim.cosine_decay(3e-3, steps_per_epoch * max_epochs, 1e-4)],
        [300],
    )
    opt = optim.Adam(learning_rate=schedule)

    def loss_fn(m, xb, yb):
        return poisson_nll(m(xb), yb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    # first-step audit outside the compiled step
    _, g0 = loss_and_grad(model, mx.array(xtr[:bs]), mx.array(ytr[:bs]))
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print("gradient audit: {} leaves, {} all-zero {}".format(len(leaves), len(zero), zero))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        return loss

    null_mu = np.full_like(yva, ytr.mean())
    null_dev = deviance(null_mu, yva)
    print("constant-rate baseline: val deviance {:.4f} (rate {:.2f} colonies)".format(null_dev, ytr.mean()))
    print("{:>5} {:>9} {:>12} {:>10} {:>9} {:>6}".format(
        "epoch", "lr", "train_nll", "val_dev", "explained", "secs"))

    best_dev, best_epoch, best_params, patience, bad = math.inf, -1, None, 5, 0
    t0 = time.time()
    for epoch in range(1, max_epochs + 1):
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        mu = np.array(mx.exp(model(Xva)))
        dev = deviance(mu, yva)
        explained = 100.0 * (1.0 - dev / null_dev)
        mark = ""
        if dev < best_dev - 1e-4:
            best_dev, best_epoch, bad = dev, epoch, 0
            best_params = dict(tree_flatten(model.parameters()))
            mark = " <- best"
        else:
            bad += 1
        print("{:>5} {:>9.2e} {:>12.4f} {:>10.4f} {:>8.1f}% {:>6.1f}{}".format(
            epoch, opt.learning_rate.item(), tot / steps_per_epoch, dev, explained,
            time.time() - t0, mark))
        if bad >= patience:
            print("no val improvement for {} epochs: stopping".format(patience))
            break

    last_dev = deviance(np.array(mx.exp(model(Xva))), yva)
    model.update(tree_unflatten(list(best_params.items())))
    restored = deviance(np.array(mx.exp(model(Xva))), yva)
    print("last-epoch val deviance {:.4f}; restored epoch {} -> {:.4f} ({:.1f}% explained)".format(
        last_dev, best_epoch, restored, 100.0 * (1.0 - restored / null_dev)))


if __name__ == "__main__":
    main()
