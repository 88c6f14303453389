"""Cooperage bench: learn an embedding of stave tap-tone spectra without labels.

Each oak stave is tapped and a 32-bin magnitude spectrum is recorded. Staves
come from 6 wood lots (species x grain); the lot decides where the two main
resonances sit. We train a small encoder with a SimCLR-style NT-Xent loss on
augmented pairs (gain, up to three-bin shift, hiss, a dropped band), using SGD with
Nesterov momentum and cosine warm restarts (SGDR). After every cycle a ridge
probe on the frozen embeddings reports how well the lots separate.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_BINS, N_LOTS = 32, 6
LOT_PEAKS = [(9, 14), (9, 17), (10, 20), (10, 15), (11, 19), (11, 22)]


def make_staves(n):
    lots = rng.integers(0, N_LOTS, size=n)
    f = np.arange(N_BINS)[None, :]
    thick = rng.uniform(-4, 4, (n, 1))  # stave thickness moves both resonances
    p1 = np.array([LOT_PEAKS[l][0] for l in lots])[:, None] + thick + rng.normal(0, 0.5, (n, 1))
    p2 = np.array([LOT_PEAKS[l][1] for l in lots])[:, None] + thick + rng.normal(0, 0.6, (n, 1))
    w = rng.uniform(1.0, 1.8, (n, 1))
    spec = np.exp(-0.5 * ((f - p1) / w) ** 2) + 0.6 * np.exp(-0.5 * ((f - p2) / (1.3 * w)) ** 2)
    spec += 0.08 * rng.random((n, N_BINS)) + 0.05  # bench hum floor
    spec *= rng.uniform(0.6, 1.4, (n, 1))  # tap strength
    return np.log1p(4 * spec).astype(np.float32), lots


X_tr, y_tr = make_staves(1800)
X_te, y_te = make_staves(600)
mu, sd = X_tr.mean(0), X_tr.std(0) + 1e-6
X_tr = (X_tr - mu) / sd
X_te = (X_te - mu) / sd


def augment(x):
    n = x.shape[0]
    out = x * rng.uniform(0.85, 1.15, (n, 1)).astype(np.float32)
    shifts = rng.integers(-3, 4, size=n)
    out = np.stack([np.roll(r, s) for r, s in zip(out, shifts)])
    out = out + rng.normal(0, 0.15, out.shape).astype(np.float32)
    band = rng.integers(0, N_BINS - 3, size=n)
    for i, b in enumerate(band):
        out[i, b:b + 3] = 0.0
    return out


class TapEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_BINS, 96), nn.GELU(), nn.Linear(96, 64), nn.GELU())
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 24))

    def features(self, x):
        return self.body(x)

    def __call__(self, x):
        return self.head(self.body(x))


def nt_xent(model, a, b, tau=0.2):
    za = model(a)
    zb = model(b)
    za = za / mx.linalg.norm(za, axis=1, keepdims=True)
    zb = zb / mx.linalg.norm(zb, axis=1, keepdims=True)
    z = mx.concatenate([za, zb], axis=0)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    targets = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return mx.mean(nn.losses.cross_entropy(sim, targets))


def ridge_probe(model):
    ftr = np.array(model.features(mx.array(X_tr)))
    fte = np.array(model.features(mx.array(X_te)))
    ftr = np.hstack([ftr, np.ones((len(ftr), 1))])
    fte = np.hstack([fte, np.ones((len(fte), 1))])
    Y = np.eye(N_LOTS)[y_tr]
    W = np.linalg.solve(ftr.T @ ftr + 1.0 * np.eye(ftr.shape[1]), ftr.T @ Y)
    return 100.0 * np.mean((fte @ W).argmax(1) == y_te)


def raw_probe():
    a = np.hstack([X_tr, np.ones((len(X_tr), 1))])
    b = np.hstack([X_te, np.ones((len(X_te), 1))])
    W = np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ np.eye(N_LOTS)[y_tr])
    return 100.0 * np.mean((b @ W).argmax(1) == y_te)


mx.random.seed(3)
model = TapEncoder()
mx.eval(model.parameters())
LR_MAX, LR_MIN, CYCLE, CYCLES, BATCH = 0.08, 0.002, 150, 3, 128
opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9, nesterov=True, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, nt_xent)

# one-off gradient audit before training
a0 = mx.array(augment(X_tr[:BATCH]))
b0 = mx.array(augment(X_tr[:BATCH]))
_, g0 = loss_and_grad(model, a0, b0)
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, {len(dead)} with all-zero grad")

base_probe = ridge_probe(model)
raw = raw_probe()
print(f"probe before training: {base_probe:5.1f}%   raw-spectrum ridge: {raw:5.1f}%   chance: {100 / N_LOTS:4.1f}%")
print(f"{'step':>5} | {'cyc':>3} | {'lr':>7} | {'ntxent':>7} | {'probe%':>6}")
print("-" * 42)

t0 = time.time()
step = 0
window = []
for cyc in range(CYCLES):
    for k in range(CYCLE):
        lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * k / CYCLE))
        opt.learning_rate = lr
        idx = rng.choice(len(X_tr), BATCH, replace=False)
        xa = mx.array(augment(X_tr[idx]))
        xb = mx.array(augment(X_tr[idx]))
        loss, grads = loss_and_grad(model, xa, xb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        if step % 25 == 0:
            print(f"{step:5d} | {cyc + 1:3d} | {lr:7.4f} | {np.mean(window):7.4f} | {'':>6}")
            window = []
    acc = ridge_probe(model)
    print(f"{step:5d} | {cyc + 1:3d} | {'restart':>7} | {'':>7} | {acc:6.1f}")

print("-" * 42)
print(f"final probe {acc:.1f}% (untrained encoder {base_probe:.1f}%, raw spectra {raw:.1f}%) in {time.time() - t0:.1f}s")
