"""Are two 7-letter strings anagrams of each other?

Each string is encoded by a DeepSets encoder (per-letter embedding -> MLP,
summed over positions, so the encoding is order-free).  A pair head reads
|e1 - e2| and e1 * e2 and outputs one logit.  Negatives differ from an
anagram in one letter, so the task is not trivial.  Adam with bias
correction, the whole step compiled with the model and optimizer state.
The log is TAP (Test Anything Protocol): one test point per epoch.
"""
import string
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L, A = 7, 26
rng = np.random.default_rng(11)


def make_pairs(n):
    a = rng.integers(0, A, size=(n, L))
    b = np.array([rng.permutation(row) for row in a])
    y = rng.random(n) < 0.5
    # negatives: replace one letter of the shuffled copy by a different letter
    neg = np.where(~y)[0]
    pos = rng.integers(0, L, size=len(neg))
    shift = rng.integers(1, A, size=len(neg))
    b[neg, pos] = (b[neg, pos] + shift) % A
    return a.astype(np.int32), b.astype(np.int32), y.astype(np.float32)


class SetEncoder(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.embed = nn.Embedding(A, dim)
        self.phi = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def __call__(self, tokens):
        return self.phi(self.embed(tokens)).sum(axis=1)


class AnagramNet(nn.Module):
    def __init__(self, dim=48):
        super().__init__()
        self.enc = SetEncoder(dim)
        self.rho = nn.Sequential(nn.Linear(2 * dim, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, a, b):
        ea, eb = self.enc(a), self.enc(b)
        return self.rho(mx.concatenate([mx.abs(ea - eb), ea * eb], axis=-1)).squeeze(-1)


def loss_fn(model, a, b, y):
    return nn.losses.binary_cross_entropy(model(a, b), y, with_logits=True, reduction="mean")


model = AnagramNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3, bias_correction=True)
loss_and_grad = nn.value_and_grad(model, loss_fn)

Atr, Btr, Ytr = make_pairs(6000)
# 3% annotation noise on the training labels only (validation stays clean)
flip = rng.random(len(Ytr)) < 0.03
Ytr[flip] = 1.0 - Ytr[flip]
Ava, Bva, Yva = (mx.array(t) for t in make_pairs(2000))

# gradient check on the very first batch, before any update
_, g0 = loss_and_grad(model, mx.array(Atr[:128]), mx.array(Btr[:128]), mx.array(Ytr[:128]))
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(a, b, y):
    loss, grads = loss_and_grad(model, a, b, y)
    opt.update(model, grads)
    return loss


EPOCHS, BS = 10, 128
print("TAP version 13")
print(f"1..{EPOCHS + 1}")
status = "ok" if not dead else "not ok"
print(f"{status} 1 - first-step gradient reaches all {len(flat)} leaves")
print(f"  ---\n  zero_leaves: {dead}\n  chance_accuracy: 0.5\n  ...")

t0 = time.perf_counter()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - BS + 1, BS):
        idx = perm[i:i + BS]
        loss = step(mx.array(Atr[idx]), mx.array(Btr[idx]), mx.array(Ytr[idx]))
        mx.eval(state, loss)
        tot += loss.item()
        nb += 1
    logits = model(Ava, Bva)
    acc = mx.mean((logits > 0) == (Yva > 0.5)).item()
    val = nn.losses.binary_cross_entropy(logits, Yva, with_logits=True, reduction="mean").item()
    print(f"ok {epoch + 1} - epoch {epoch}")
    print(f"  ---\n  train_bce: {tot / nb:.4f}\n  val_bce: {val:.4f}\n  val_acc: {acc:.4f}"
          f"\n  elapsed_s: {time.perf_counter() - t0:.2f}\n  ...")
print(f"# training-label noise rate: {flip.mean():.3f}")
print(f"# first training pair: {''.join(string.ascii_lowercase[c] for c in Atr[0])}"
      f" / {''.join(string.ascii_lowercase[c] for c in Btr[0])} label={int(Ytr[0])}")
