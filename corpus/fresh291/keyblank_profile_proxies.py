"""Locksmith counter: embed laser profiles of key blanks so that a cut key can be matched
to its blank family. Proxy-based metric learning (one learnable proxy per blank family,
NCA over proxies with the positive left out of the denominator), proxies on a faster
learning rate through MultiOptimizer, evaluation on blank families never seen in training.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_FAM_TRAIN, N_FAM_TEST, PER_FAM = 40, 20, 60
POINTS, EMB = 40, 16
xs = np.linspace(0, 1, POINTS)


def families(n):
    fams = []
    for _ in range(n):
        grooves = rng.uniform(0.05, 0.95, size=3)
        depth = rng.uniform(0.2, 0.8, size=3)
        width = rng.uniform(0.03, 0.09, size=3)
        fams.append((grooves, depth, width, rng.uniform(0.6, 1.0)))
    return fams


def profile(f, n):
    g, d, w, h = f
    base = h - sum(d[i] * np.exp(-((xs - g[i]) ** 2) / (2 * w[i] ** 2)) for i in range(3))
    out = np.repeat(base[None], n, 0)
    shift = rng.integers(-5, 6, size=n)
    out = np.stack([np.roll(o, s) for o, s in zip(out, shift)])
    # bitting cuts from a previous owner, wear and sensor noise
    for o in out:
        for _ in range(rng.integers(2, 6)):
            c = rng.integers(5, POINTS - 5)
            o[c - 1:c + 2] -= rng.uniform(0.1, 0.4)
    out *= rng.uniform(0.9, 1.1, size=(n, 1))
    return out + rng.normal(scale=0.09, size=out.shape)


def make(fams):
    X = np.concatenate([profile(f, PER_FAM) for f in fams]).astype(np.float32)
    y = np.repeat(np.arange(len(fams)), PER_FAM)
    return X, y


Xtr, ytr = make(families(N_FAM_TRAIN))
Xte, yte = make(families(N_FAM_TEST))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv1d(16, 16, 5, padding=2)
        self.fc = nn.Linear(16 * POINTS // 2, EMB)
        self.proxies = mx.random.normal((N_FAM_TRAIN, EMB)) * 0.1

    def embed(self, x):
        h = nn.relu(self.conv1(x[..., None]))
        h = nn.relu(self.conv2(h))
        h = h.reshape(h.shape[0], POINTS // 2, 2, 16).max(axis=2).reshape(h.shape[0], -1)
        e = self.fc(h)
        return e / mx.linalg.norm(e, axis=-1, keepdims=True)


def proxy_nca(model, x, y):
    e = model.embed(x)
    p = model.proxies / mx.linalg.norm(model.proxies, axis=-1, keepdims=True)
    d = 3.0 * mx.sum((e[:, None, :] - p[None]) ** 2, axis=-1)
    pos = mx.take_along_axis(d, y[:, None], axis=1)[:, 0]
    mask = mx.arange(N_FAM_TRAIN)[None] == y[:, None]
    neg = mx.logsumexp(mx.where(mask, -1e9, -d), axis=1)
    return mx.mean(pos + neg)


def recall_at_1(feats, labels):
    f = np.asarray(feats)
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    return 100.0 * np.mean(labels[sim.argmax(1)] == labels)


def raw_baseline():
    f = Xte - Xte.mean(1, keepdims=True)
    f = f / np.linalg.norm(f, axis=1, keepdims=True)
    return recall_at_1(f, yte)


def main():
    mx.random.seed(11)
    t0 = time.time()
    model = Net()
    opt = optim.MultiOptimizer(
        [optim.Adam(learning_rate=3e-2), optim.Adam(learning_rate=1e-3)],
        [lambda name, w: name.startswith("proxies")],
    )
    mx.eval(model.parameters())
    print(f"blank families: {N_FAM_TRAIN} train / {N_FAM_TEST} unseen test, {PER_FAM} keys each")
    print(f"reference: unseen-family recall@1 raw profiles {raw_baseline():.1f}%, chance {100 * (PER_FAM - 1) / (N_FAM_TEST * PER_FAM - 1):.1f}%")
    print(f"reference: untrained net recall@1 {recall_at_1(model.embed(mx.array(Xte)), yte):.1f}%")
    vg = nn.value_and_grad(model, proxy_nca)
    n = len(Xtr)
    for epoch in range(1, 25):
        perm = rng.permutation(n)
        losses = []
        for i in range(0, n - 95, 96):
            idx = perm[i:i + 96]
            loss, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        if epoch % 3 == 0:
            r1 = recall_at_1(model.embed(mx.array(Xte)), yte)
            print(f"epoch {epoch:2d}  proxy-nca {np.mean(losses):+.3f}  unseen r@1 {r1:5.1f}%  ({time.time() - t0:.1f}s)")
    pn = np.linalg.norm(np.asarray(model.proxies), axis=1)
    print(f"finished: proxy norms {pn.min():.2f}..{pn.max():.2f}, {sum(v.size for _, v in tree_flatten(model.parameters()))} parameters, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
