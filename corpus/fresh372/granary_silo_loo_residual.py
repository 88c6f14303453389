"""Grain-silo sensor screening with a hide-one-sensor predictor.

For each record one sensor is hidden; the network sees the others plus a
one-hot of which sensor is hidden and outputs a mean and log-scale for it.
Training minimises the Gaussian negative log-likelihood (in nats, it goes
below zero once the predictor is sharper than unit scale).  The screening
score of a record is the largest squared standardised residual over sensors.
Gradients are accumulated over 4 micro-batches per optimizer step.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

SENSORS = ["moisture", "t_core", "t_wall", "co2", "rh_head", "fill"]
NOISE = np.array([0.15, 0.3, 0.3, 25.0, 1.0, 0.01])


def silo_records(rng, n):
    ambient = rng.uniform(5, 30, n)
    moist = rng.uniform(11, 16, n)
    fill = rng.uniform(0.3, 1.0, n)
    t_wall = 0.8 * ambient + 2 + NOISE[2] * rng.normal(size=n)
    t_core = 0.4 * ambient + 10 + 1.5 * np.maximum(moist - 13.5, 0) * fill + NOISE[1] * rng.normal(size=n)
    co2 = 450 + 120 * np.maximum(moist - 13, 0) ** 1.5 * fill + NOISE[3] * rng.normal(size=n)
    rh = 40 + 3.2 * (moist - 11) + 0.3 * (t_core - t_wall) + NOISE[4] * rng.normal(size=n)
    return np.stack([moist + NOISE[0] * rng.normal(size=n), t_core, t_wall, co2, rh,
                     fill + NOISE[5] * rng.normal(size=n)], 1)


def spoiling_records(rng, n):
    x = silo_records(rng, n)
    # hot spot: core warms and CO2 rises, with nothing else changed
    x[:, 1] += rng.uniform(0.8, 2.0, n)
    x[:, 3] += rng.uniform(30, 90, n)
    return x


def auroc(a, b):
    s = np.concatenate([a, b]); y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    r = np.empty(len(s)); r[np.argsort(s)] = np.arange(1, len(s) + 1)
    return (r[y == 1].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b))


class HideOne(nn.Module):
    def __init__(self, d, h=96):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * d, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, 2 * d))
        self.d = d

    def __call__(self, x, j):
        onehot = mx.eye(self.d)[j]
        inp = mx.concatenate([x * (1 - onehot), onehot], axis=1)
        out = self.net(inp)
        mu = mx.take_along_axis(out[:, : self.d], j[:, None], axis=1).squeeze(1)
        log_s = mx.take_along_axis(out[:, self.d:], j[:, None], axis=1).squeeze(1)
        return mu, mx.clip(log_s, -6.0, 3.0)


def nll(model, x, j):
    mu, log_s = model(x, j)
    target = mx.take_along_axis(x, j[:, None], axis=1).squeeze(1)
    z = (target - mu) * mx.exp(-log_s)
    return mx.mean(0.5 * z * z + log_s + 0.5 * np.log(2 * np.pi))


def screen_scores(model, x):
    n, d = x.shape
    xs = mx.array(x)
    worst = np.zeros(n)
    for k in range(d):
        j = mx.full((n,), k, dtype=mx.int32)
        mu, log_s = model(xs, j)
        z = (xs[:, k] - mu) * mx.exp(-log_s)
        worst = np.maximum(worst, np.array(z * z))
    return worst


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    raw = silo_records(rng, 12000)
    mu, sd = raw.mean(0), raw.std(0)
    f = lambda a: ((a - mu) / sd).astype(np.float32)
    xtr, xva = f(raw[:10000]), f(raw[10000:])
    te_ok, te_bad = f(silo_records(rng, 1000)), f(spoiling_records(rng, 100))
    floor = float(np.mean(np.log(NOISE / sd) + 0.5 + 0.5 * np.log(2 * np.pi)))

    zb_ok, zb_bad = np.abs(te_ok).max(1), np.abs(te_bad).max(1)
    d = len(SENSORS)
    model = HideOne(d)
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.02)
    vg = nn.value_and_grad(model, nll)

    print(f"# sensors={d} train={len(xtr)} valid={len(xva)} test_ok={len(te_ok)} test_spoiling={len(te_bad)}")
    print(f"# nll floor if the predictor knew the simulated noise exactly: {floor:.3f} nats (measurement noise only; the hidden-sensor spread is wider)")
    print(f"# baseline max|z| auroc={auroc(zb_ok, zb_bad):.3f}")
    print("epoch,train_nll,valid_nll,auroc,flag_rate_ok,secs")

    micro, accum = 64, 4
    steps_per_epoch = len(xtr) // (micro * accum)
    for epoch in range(1, 13):
        perm = rng.permutation(len(xtr))
        run = []
        for s in range(steps_per_epoch):
            acc = None
            tot = 0.0
            for a in range(accum):
                idx = perm[(s * accum + a) * micro:(s * accum + a + 1) * micro]
                j = mx.array(rng.integers(0, d, micro).astype(np.int32))
                loss, g = vg(model, mx.array(xtr[idx]), j)
                acc = g if acc is None else tree_map(lambda u, v: u + v, acc, g)
                tot = tot + loss
            acc = tree_map(lambda u: u / accum, acc)
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state, tot)
            run.append(tot.item() / accum)
        jv = mx.array(np.tile(np.arange(d), len(xva) // d + 1)[: len(xva)].astype(np.int32))
        vnll = nll(model, mx.array(xva), jv).item()
        if epoch % 3 == 0:
            s_ok, s_bad = screen_scores(model, te_ok), screen_scores(model, te_bad)
            thr = np.quantile(screen_scores(model, xva), 0.99)
            print(f"{epoch},{np.mean(run):.4f},{vnll:.4f},{auroc(s_ok, s_bad):.3f},{(s_ok > thr).mean():.3f},{time.time() - t0:.1f}")
    print(f"# done {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
