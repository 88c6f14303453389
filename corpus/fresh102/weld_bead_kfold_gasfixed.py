"""Arc-welding QA: classify weld bead penetration (lack of fusion / sound / burn-through)
from logged process settings. 4-fold cross-validation, each fold trained from scratch.

The shielding gas enters through a small embedding table that is filled with fixed,
published-style gas descriptors and frozen; only the MLP on top is trained.
"""
import logging
import sys
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("weldqa")

CLASSES = ["lack_of_fusion", "sound", "burn_through"]
GASES = ["Ar", "Ar/CO2 82/18", "CO2"]
# columns: ionisation potential (scaled), thermal conductivity (scaled), density (scaled), arc stability
GAS_TABLE = np.array([
    [0.55, 0.20, 0.60, 0.90],
    [0.62, 0.35, 0.70, 0.75],
    [0.50, 0.80, 0.95, 0.40],
], dtype=np.float32)


def make_welds(n, rng):
    current = rng.uniform(90, 260, n)            # A
    voltage = rng.uniform(16, 30, n)             # V
    speed = rng.uniform(3.0, 12.0, n)            # mm/s
    wire_feed = current / 30.0 + rng.normal(0, 0.6, n)   # m/min, tied to current
    stickout = rng.uniform(8, 20, n)             # mm
    gas_flow = rng.uniform(10, 22, n)            # l/min
    thickness = rng.choice([3.0, 5.0, 6.0, 8.0, 10.0], n)
    gas = rng.integers(0, 3, n)
    heat = 0.8 * current * voltage / (speed * 1000.0)   # kJ/mm
    gas_boost = np.array([0.0, 0.12, 0.25])[gas]
    # penetration relative to plate thickness, with a stickout penalty and noise
    pen = (heat * (1.0 + gas_boost) * 9.0) / thickness - 0.02 * (stickout - 12) \
        + rng.normal(0, 0.12, n)
    y = np.where(pen < 0.55, 0, np.where(pen < 1.25, 1, 2)).astype(np.int32)
    feats = np.stack([current / 100, voltage / 10, speed / 5, wire_feed / 5,
                      stickout / 10, gas_flow / 10, thickness / 5], 1).astype(np.float32)
    return feats, gas.astype(np.int32), y


class WeldNet(nn.Module):
    def __init__(self, n_feat=7, hidden=48):
        super().__init__()
        self.gas = nn.Embedding(len(GASES), GAS_TABLE.shape[1])
        self.gas.weight = mx.array(GAS_TABLE)
        self.gas.freeze()                 # fixed physical descriptors, never trained
        self.norm = nn.LayerNorm(n_feat)
        self.l1 = nn.Linear(n_feat + GAS_TABLE.shape[1], hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, len(CLASSES))

    def __call__(self, x, g):
        h = mx.concatenate([self.norm(x), self.gas(g)], axis=-1)
        h = nn.gelu(self.l1(h))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


def ce_loss(model, x, g, y):
    return nn.losses.cross_entropy(model(x, g), y, reduction="mean")


def accuracy(model, x, g, y):
    pred = mx.argmax(model(x, g), axis=-1)
    return (pred == y).astype(mx.float32).mean().item()


def train_fold(fold, xtr, gtr, ytr, xva, gva, yva, epochs=18, batch=64, lr=3e-3):
    mx.random.seed(100 + fold)
    model = WeldNet()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=lr)
    loss_and_grad = nn.value_and_grad(model, ce_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, g, y):
        loss, grads = loss_and_grad(model, x, g, y)
        opt.update(model, grads)
        return loss

    n = xtr.shape[0]
    steps_per_epoch = n // batch          # fold sizes are multiples of the batch
    rng = np.random.default_rng(fold)
    frozen_before = np.array(model.gas.weight)
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(n)
        total = 0.0
        for s in range(steps_per_epoch):
            idx = mx.array(perm[s * batch:(s + 1) * batch])
            loss = step(xtr[idx], gtr[idx], ytr[idx])
            mx.eval(state)
            total += loss.item()
        if epoch == 1 or epoch % 6 == 0:
            va = accuracy(model, xva, gva, yva)
            log.info("fold %d/4 epoch %02d train_ce=%.4f val_acc=%.1f%%",
                     fold + 1, epoch, total / steps_per_epoch, 100 * va)
    assert np.array_equal(frozen_before, np.array(model.gas.weight))
    return accuracy(model, xtr, gtr, ytr), accuracy(model, xva, gva, yva)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    feats, gas, y = make_welds(2560, rng)
    counts = np.bincount(y, minlength=3)
    log.info("welds: %d, class mix %s", len(y),
             ", ".join(f"{c}={100 * k / len(y):.1f}%" for c, k in zip(CLASSES, counts)))
    folds = np.array_split(rng.permutation(len(y)), 4)
    rows = []
    for k in range(4):
        va_idx = folds[k]
        tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
        to = lambda a, i: mx.array(a[i])
        tr_acc, va_acc = train_fold(k, to(feats, tr_idx), to(gas, tr_idx), to(y, tr_idx),
                                    to(feats, va_idx), to(gas, va_idx), to(y, va_idx))
        rows.append((k + 1, len(tr_idx), len(va_idx), tr_acc, va_acc))
    log.info("cross-validation summary")
    print(f"{'fold':>4} {'n_train':>8} {'n_val':>6} {'train_acc':>10} {'val_acc':>8}")
    for r in rows:
        print(f"{r[0]:>4} {r[1]:>8} {r[2]:>6} {100 * r[3]:>9.1f}% {100 * r[4]:>7.1f}%")
    va = np.array([r[4] for r in rows])
    print(f"mean val_acc {100 * va.mean():.1f}% +/- {100 * va.std():.1f}%  "
          f"(majority-class baseline {100 * counts.max() / len(y):.1f}%)  [{time.time() - t0:.1f}s]")


if __name__ == "__main__":
    main()
