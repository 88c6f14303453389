"""Chord-quality recognition from noisy 12-bin chroma vectors.

Classes: major, minor, diminished, augmented, dominant-7 (root and inversion vary).
A circular 1-D conv net over the pitch-class axis, Adafactor, 24 epochs.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

QUALITIES = {"maj": [0, 4, 7], "min": [0, 3, 7], "dim": [0, 3, 6], "aug": [0, 4, 8], "dom7": [0, 4, 7, 10]}
NAMES = list(QUALITIES)
rng = np.random.default_rng(11)


def make_chroma(n):
    X = np.zeros((n, 12), dtype=np.float32)
    y = rng.integers(0, len(NAMES), size=n)
    for i in range(n):
        root = rng.integers(0, 12)
        ivs = QUALITIES[NAMES[y[i]]]
        bass = rng.integers(0, len(ivs))  # inversion: that chord tone is loudest
        for k, iv in enumerate(ivs):
            pc = (root + iv) % 12
            amp = rng.uniform(0.5, 1.0) * (1.6 if k == bass else 1.0)
            X[i, pc] += amp
            X[i, (pc + 7) % 12] += 0.35 * amp * rng.uniform(0.5, 1.0)  # 3rd-harmonic leakage
        X[i] += np.abs(rng.normal(0.0, 0.28, size=12))  # background energy
        X[i] /= X[i].max()
    return X, y.astype(np.int32)


class CircularChordNet(nn.Module):
    def __init__(self, ch=32, n_cls=5):
        super().__init__()
        self.c1 = nn.Conv1d(1, ch, kernel_size=5)
        self.c2 = nn.Conv1d(ch, ch, kernel_size=5)
        self.head = nn.Linear(2 * ch, n_cls)

    @staticmethod
    def wrap(x, k=5):  # circular padding along the 12 pitch classes
        p = k // 2
        return mx.concatenate([x[:, -p:], x, x[:, :p]], axis=1)

    def __call__(self, chroma):
        h = chroma[..., None]
        h = nn.relu(self.c1(self.wrap(h)))
        h = nn.relu(self.c2(self.wrap(h)))
        pooled = mx.concatenate([h.max(axis=1), h.mean(axis=1)], axis=-1)  # rotation-invariant
        return self.head(pooled)


def loss_fn(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def accuracy(model, X, y):
    return float((mx.argmax(model(X), axis=1) == y).mean())


Xtr, ytr = make_chroma(3000)
Xva, yva = make_chroma(800)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

model = CircularChordNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)

_, g0 = grad_fn(model, Xtr[:256], ytr[:256])
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(f"{len(tree_flatten(g0))} parameter arrays, all-zero gradients at step 0: {zero or 'none'}")

opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)
EPOCHS, BS = 24, 64
print(f"chance accuracy {1 / len(NAMES):.1%}")
print("epoch │ train loss │ train acc │ val acc │  sec")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot, nb = 0.0, 0
    for s in range(0, Xtr.shape[0], BS):
        idx = perm[s:s + BS]
        loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    if ep % 3 == 0 or ep == 1:
        print(f"{ep:5d} │ {tot / nb:10.4f} │ {accuracy(model, Xtr, ytr):9.1%} │ "
              f"{accuracy(model, Xva, yva):7.1%} │ {time.time() - t0:4.1f}")

pred = np.array(mx.argmax(model(Xva), axis=1))
truth = np.array(yva)
cm = np.zeros((5, 5), dtype=int)
for t, p in zip(truth, pred):
    cm[t, p] += 1
print("\nvalidation confusion (rows = true, cols = predicted)")
print("      " + "".join(f"{n:>6}" for n in NAMES))
for i, n in enumerate(NAMES):
    print(f"{n:>6}" + "".join(f"{v:6d}" for v in cm[i]))
