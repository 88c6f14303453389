"""Canal locks: minutes a narrowboat spends passing a lock flight.

Inputs: number of locks in the flight, boats queued, crew size, boat length,
hour of day, paddle-gear age (years), downhill flag. Three seeds are trained
one after another, each from fresh weights, to see how much the fit varies.
Activation is a soft-clip with its own hand-written vjp; the optimizer is a
small hand-written Adam over the flattened parameter list.
"""
import math
import time
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten


@mx.custom_function
def softclip(x):
    return x / (1.0 + mx.abs(x))


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals  # single input: the array itself, not a tuple
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


class LockNet(nn.Module):
    def __init__(self, d_in, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = softclip(self.l1(x))
        x = softclip(self.l2(x)) + x
        return self.out(x).squeeze(-1)


class HandAdam:
    def __init__(self, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.t = 0
        self.m = {}
        self.v = {}

    def step(self, model, grads):
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            m = self.m.get(k, mx.zeros_like(g))
            v = self.v.get(k, mx.zeros_like(g))
            m = self.b1 * m + (1 - self.b1) * g
            v = self.b2 * v + (1 - self.b2) * g * g
            self.m[k], self.v[k] = m, v
            new.append((k, params[k] - self.lr * (m / c1) / (mx.sqrt(v / c2) + self.eps)))
        model.update(tree_unflatten(new))

    def state(self):
        return list(self.m.values()) + list(self.v.values())


def make_flights(n, rng):
    locks = rng.integers(1, 22, n)
    queue = rng.poisson(1.5, n)
    crew = rng.integers(1, 5, n)
    length = rng.uniform(30, 70, n)
    hour = rng.uniform(7, 20, n)
    gear = rng.uniform(0, 40, n)
    down = rng.integers(0, 2, n)
    per_lock = 9.0 - 1.3 * (crew - 1) + 0.03 * (length - 50) + 0.04 * gear - 1.5 * down
    busy = 1.0 + 0.6 * np.exp(-((hour - 13.0) ** 2) / 8.0)
    mins = locks * per_lock + 12.0 * queue * busy + rng.normal(0, 4.0, n)
    x = np.stack([locks, queue, crew, length, hour, gear, down], 1).astype(np.float32)
    return x, mins.astype(np.float32)


def check_vjp():
    x = mx.array([-2.0, -0.3, 0.0, 0.7, 3.0])
    g = mx.grad(lambda z: softclip(z).sum())(x)
    h = 1e-3
    fd = (softclip(x + h) - softclip(x - h)) / (2 * h)
    return float(mx.abs(g - fd).max().item())


def train_one(seed, data, report):
    xtr, ytr, xva, yva, ysd = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = LockNet(xtr.shape[1])
    mx.eval(model.parameters())
    opt = HandAdam(lr=2e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, xtr[:64], ytr[:64])
    nz = sum(1 for _, a in tree_flatten(g) if mx.abs(a).max().item() > 0)
    report.append({"seed": seed, "event": "grad_check",
                   "leaves": len(tree_flatten(g)), "nonzero": nz})

    n, bs = xtr.shape[0], 64
    hist = []
    for ep in range(1, 9):
        order = mx.array(rng.permutation(n))
        tot = 0.0
        for b in range(n // bs):
            idx = order[b * bs:(b + 1) * bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.step(model, grads)
            mx.eval(model.parameters(), opt.state(), loss)
            tot += loss.item()
        rmse = math.sqrt(loss_fn(model, xva, yva).item()) * ysd
        hist.append(round(rmse, 2))
        if ep in (1, 4, 8):
            report.append({"seed": seed, "epoch": ep,
                           "train_mse_std": round(tot / (n // bs), 4),
                           "val_rmse_min": round(rmse, 2)})
    return hist


def main():
    t0 = time.time()
    rng = np.random.default_rng(0)
    x, y = make_flights(14000, rng)
    xtr, xva = x[:12000], x[12000:]
    ytr, yva = y[:12000], y[12000:]
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    data = (mx.array((xtr - mu) / sd), mx.array((ytr - ymu) / ysd),
            mx.array((xva - mu) / sd), mx.array((yva - ymu) / ysd), ysd)
    pprint({"flights": {"train": len(xtr), "valid": len(xva)},
            "target_minutes": {"mean": round(ymu, 1), "std": round(ysd, 1)},
            "predict_mean_rmse_min": round(float(np.sqrt(((yva - ymu) ** 2).mean())), 2),
            "noise_floor_min": 4.0,
            "softclip_vjp_vs_fd_maxerr": check_vjp()})
    finals = {}
    for seed in (101, 202, 303):
        report = []
        hist = train_one(seed, data, report)
        for r in report:
            pprint(r, width=100)
        finals[seed] = hist[-1]
    vals = np.array(list(finals.values()))
    pprint({"summary": {"val_rmse_min_by_seed": finals,
                        "mean": round(float(vals.mean()), 2),
                        "spread": round(float(vals.max() - vals.min()), 2),
                        "secs": round(time.time() - t0, 1)}})


if __name__ == "__main__":
    main()
