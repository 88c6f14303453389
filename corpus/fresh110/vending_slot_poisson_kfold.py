"""Vending-machine slot sales: how many items a slot sells per hour.

Poisson regression with a small MLP held as a plain dict of arrays,
4-fold cross-validation (each fold trained from scratch), hand-written
Adagrad over tree_map.  Quiet while a fold trains; one summary per fold.
"""
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(7)
N = 6000
hour = rng.integers(0, 24, N)
weekday = rng.integers(0, 7, N)
temp_c = rng.normal(18, 7, N)
price = rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], N)
row = rng.integers(0, 6, N)  # slot row, 0 = top (eye level is 2)
foot = rng.gamma(2.0, 1.0, N)  # footfall index

eta = (-0.3 + 0.9 * np.log1p(foot)
       + 0.6 * np.exp(-((hour - 12.5) ** 2) / 18.0)
       + 0.4 * np.exp(-((hour - 17.5) ** 2) / 6.0)
       - 0.35 * (weekday >= 5)
       + 0.03 * np.clip(temp_c - 15, 0, None)
       - 0.45 * (price - 2.0)
       - 0.12 * np.abs(row - 2))
y = rng.poisson(np.exp(eta)).astype(np.float32)

X = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
              (weekday >= 5).astype(float), (temp_c - 18) / 7, price - 2.0,
              np.abs(row - 2) / 2.0, np.log1p(foot)], 1).astype(np.float32)
lgam = np.array([math.lgamma(v + 1) for v in y], dtype=np.float32)


def init_params(seed, d_in=7, h=32):
    k1, k2, k3 = mx.random.split(mx.random.key(seed), 3)
    return {
        "w1": mx.random.normal((d_in, h), key=k1) * (1 / math.sqrt(d_in)),
        "b1": mx.zeros((h,)),
        "w2": mx.random.normal((h, h), key=k2) * (1 / math.sqrt(h)),
        "b2": mx.zeros((h,)),
        "w3": mx.random.normal((h, 1), key=k3) * 0.01,
        "b3": mx.array([float(np.log(y.mean()))]),
    }


def log_rate(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    h = mx.tanh(h @ p["w2"] + p["b2"])
    return (h @ p["w3"] + p["b3"]).squeeze(-1)


def poisson_nll(p, x, t, lg):
    e = log_rate(p, x)
    return mx.mean(mx.exp(e) - t * e + lg)


def deviance(p, x, t):
    mu = mx.exp(log_rate(p, x))
    ratio = mx.where(t > 0, t * mx.log(mx.maximum(t, 1e-8) / mu), 0.0)
    return 2 * mx.sum(ratio - (t - mu))


grad_fn = mx.value_and_grad(poisson_nll)


class Adagrad:
    def __init__(self, lr=0.05, eps=1e-8):
        self.lr, self.eps, self.acc = lr, eps, None

    def step(self, params, grads):
        if self.acc is None:
            self.acc = tree_map(mx.zeros_like, params)
        self.acc = tree_map(lambda a, g: a + g * g, self.acc, grads)
        return tree_map(lambda p, g, a: p - self.lr * g / (mx.sqrt(a) + self.eps),
                        params, grads, self.acc)


K, EPOCHS, BS = 4, 12, 100
folds = np.array_split(rng.permutation(N), K)
print(f"vending slots: {N} slot-hours, mean sales {y.mean():.2f}/h, "
      f"{K} folds x {EPOCHS} epochs, batch {BS}")
rows = []
t_all = time.time()
for k in range(K):
    te = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    xtr, ytr, ltr = mx.array(X[tr]), mx.array(y[tr]), mx.array(lgam[tr])
    xte, yte = mx.array(X[te]), mx.array(y[te])
    params = init_params(100 + k)
    opt = Adagrad(lr=0.05)
    null_dev = 2 * np.sum(np.where(y[te] > 0, y[te] * np.log(np.maximum(y[te], 1e-8) / y[tr].mean()), 0)
                          - (y[te] - y[tr].mean()))
    t0 = time.time()
    first = True
    for ep in range(EPOCHS):
        order = mx.array(rng.permutation(len(tr)))
        run, nb = 0.0, 0
        for s in range(0, len(tr) - BS + 1, BS):
            idx = order[s:s + BS]
            loss, g = grad_fn(params, xtr[idx], ytr[idx], ltr[idx])
            if first:
                zero = [n for n, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
                assert not zero, f"zero-gradient leaves: {zero}"
                first = False
            params = opt.step(params, g)
            mx.eval(params, opt.acc, loss)
            run += loss.item(); nb += 1
    dev = deviance(params, xte, yte).item()
    rows.append((k + 1, run / nb, dev / len(te), 100 * (1 - dev / null_dev), time.time() - t0))
    print(f"fold {k + 1}/{K} done: train NLL {run / nb:.4f}, held-out deviance/row {dev / len(te):.4f}, "
          f"explained {rows[-1][3]:.1f}%  ({rows[-1][4]:.1f}s)")

print()
print(f"{'fold':>4} {'train_nll':>10} {'dev/row':>9} {'explained':>10} {'secs':>6}")
for r in rows:
    print(f"{r[0]:>4} {r[1]:>10.4f} {r[2]:>9.4f} {r[3]:>9.1f}% {r[4]:>6.1f}")
ex = np.array([r[3] for r in rows])
print(f"mean deviance explained {ex.mean():.1f}% +/- {ex.std():.1f}  total {time.time() - t_all:.1f}s")
