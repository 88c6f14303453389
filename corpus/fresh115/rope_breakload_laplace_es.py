"""Rope test bench: predict breaking load of laid rope samples.

Heteroscedastic Laplace head (mean + log-scale), so the reported NLL goes
negative once the model is confident. The fibre-type embedding holds fixed
spec-sheet codes and is frozen on purpose; early stopping restores the best
weights seen on the validation split.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s rope-bench | %(message)s")
log = logging.getLogger("rope-bench")

FIBRES = ["manila", "hemp", "sisal", "nylon", "polyester", "polyprop"]
# spec sheet: tenacity (scaled), elongation, water uptake, density
SPEC = np.array([
    [0.35, 0.10, 0.60, 0.75],
    [0.40, 0.08, 0.55, 0.80],
    [0.28, 0.09, 0.65, 0.70],
    [0.90, 0.45, 0.20, 0.55],
    [0.80, 0.25, 0.05, 0.65],
    [0.60, 0.30, 0.00, 0.40],
], dtype=np.float32)


def make_samples(n, rng):
    fib = rng.integers(0, len(FIBRES), n)
    diam = rng.uniform(6, 28, n)            # mm
    lay = rng.uniform(28, 42, n)            # lay angle, degrees
    strands = rng.choice([3, 4, 8], n)
    moist = rng.uniform(0, 1, n)
    age = rng.exponential(3.0, n)           # years in service
    ten = SPEC[fib, 0]
    wet = SPEC[fib, 2]
    load = (ten * diam ** 2 * 0.9 * np.cos(np.radians(lay)) ** 2
            * (1 + 0.05 * (strands == 8)) * (1 - 0.25 * wet * moist)
            * np.exp(-0.06 * age))
    noise = rng.laplace(0, 0.04 + 0.05 * wet, n)      # natural fibres scatter more
    y = np.log(load) + noise
    x = np.stack([
        (diam - 17) / 6.5, (lay - 35) / 4.0, (strands - 5) / 2.2,
        moist * 2 - 1, np.log1p(age) - 1.1,
    ], 1).astype(np.float32)
    return fib.astype(np.int32), x, y.astype(np.float32)


class RopeNet(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.fibre = nn.Embedding(len(FIBRES), SPEC.shape[1])
        self.fibre.weight = mx.array(SPEC)
        self.body = nn.Sequential(nn.Linear(5 + SPEC.shape[1], hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU())
        self.mu = nn.Linear(hidden, 1)
        self.log_b = nn.Linear(hidden, 1)

    def __call__(self, fib, x):
        h = self.body(mx.concatenate([x, self.fibre(fib)], axis=1))
        return self.mu(h)[:, 0], mx.clip(self.log_b(h)[:, 0], -6.0, 3.0)


def laplace_nll(model, fib, x, y):
    mu, log_b = model(fib, x)
    return mx.mean(log_b + math.log(2.0) + mx.abs(y - mu) * mx.exp(-log_b))


def evaluate(model, data, bs=500):
    fib, x, y = data
    tot, mae = 0.0, 0.0
    for i in range(0, len(y), bs):
        f, xb, yb = mx.array(fib[i:i + bs]), mx.array(x[i:i + bs]), mx.array(y[i:i + bs])
        mu, _ = model(f, xb)
        tot += laplace_nll(model, f, xb, yb).item() * len(yb)
        mae += mx.sum(mx.abs(mu - yb)).item()
    return tot / len(y), mae / len(y)


def main():
    rng = np.random.default_rng(11)
    train = make_samples(16000, rng)
    y_mean, y_std = float(train[2].mean()), float(train[2].std())
    norm = lambda d: (d[0], d[1], (d[2] - y_mean) / y_std)
    train = norm(train)
    val = norm(make_samples(1200, rng))

    mx.random.seed(3)
    model = RopeNet()
    model.fibre.freeze()               # spec-sheet codes are fixed on purpose
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, laplace_nll)

    # sanity check on the first batch: every trainable leaf gets a gradient
    _, g0 = step_fn(model, mx.array(train[0][:128]), mx.array(train[1][:128]), mx.array(train[2][:128]))
    dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
    log.info("trainable leaves=%d  zero-grad leaves=%s  frozen=fibre.weight",
             len(tree_flatten(model.trainable_parameters())), dead or "none")

    bs, patience, best, best_epoch, wait = 64, 6, float("inf"), -1, 0
    best_params = None
    n = len(train[2])
    for epoch in range(1, 61):
        perm = rng.permutation(n)
        run = 0.0
        for s in range(n // bs):
            idx = perm[s * bs:(s + 1) * bs]
            loss, grads = step_fn(model, mx.array(train[0][idx]), mx.array(train[1][idx]),
                                  mx.array(train[2][idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        v_nll, v_mae = evaluate(model, val)
        flag = ""
        if v_nll < best - 1e-4:
            best, best_epoch, wait = v_nll, epoch, 0
            best_params = tree_map(lambda p: mx.array(p), model.trainable_parameters())
            flag = " *"
        else:
            wait += 1
        log.info("epoch %2d  train_nll %+.4f  val_nll %+.4f  val_mae(std units) %.4f%s",
                 epoch, run / (n // bs), v_nll, v_mae, flag)
        if wait >= patience:
            log.info("no val improvement for %d epochs, stopping", patience)
            break

    model.update(best_params)
    mx.eval(model.parameters())
    v_nll, v_mae = evaluate(model, val)
    assert np.allclose(np.array(model.fibre.weight), SPEC), "frozen fibre table moved"
    log.info("restored epoch %d weights: val_nll %+.4f  val_mae %.4f (x%.3f log-kN)",
             best_epoch, v_nll, v_mae, y_std)


if __name__ == "__main__":
    main()
