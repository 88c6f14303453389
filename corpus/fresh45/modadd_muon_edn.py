"""Modular addition (a + b mod 23) with an embedding MLP.

Muon on the hidden matrices, AdamW on embeddings / biases / readout
(optim.MultiOptimizer). Full-batch training on 60% of all pairs; every report
is an EDN map so it can be slurped by a Clojure notebook.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

P = 23
mx.random.seed(3)
rng = np.random.default_rng(3)


class ModAdd(nn.Module):
    def __init__(self, d=32, h=128):
        super().__init__()
        self.emb = nn.Embedding(P, d)
        self.fc1 = nn.Linear(2 * d, h)
        self.fc2 = nn.Linear(h, h)
        self.out = nn.Linear(h, P)

    def __call__(self, ab):
        e = self.emb(ab).reshape(ab.shape[0], -1)
        z = nn.relu(self.fc1(e))
        z = nn.relu(self.fc2(z))
        return self.out(z)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean().item()


pairs = np.array([(a, b) for a in range(P) for b in range(P)], dtype=np.int32)
labels = (pairs[:, 0] + pairs[:, 1]) % P
perm = rng.permutation(len(pairs))
n_train = int(0.6 * len(pairs))
tr, va = perm[:n_train], perm[n_train:]
xtr, ytr = mx.array(pairs[tr]), mx.array(labels[tr])
xva, yva = mx.array(pairs[va]), mx.array(labels[va])

model = ModAdd()
mx.eval(model.parameters())


def is_hidden_matrix(path, p):
    return p.ndim == 2 and (path.startswith("fc1") or path.startswith("fc2"))


opt = optim.MultiOptimizer(
    [optim.Muon(learning_rate=0.02, momentum=0.95),
     optim.AdamW(learning_rate=3e-3, weight_decay=0.05)],
    [is_hidden_matrix],
)

vg = nn.value_and_grad(model, loss_fn)

# first-step gradient coverage
_, g0 = vg(model, xtr, ytr)
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if mx.abs(v).sum().item() == 0.0]
print(f";; gradient check: {len(leaves)} leaves, zero-grad leaves: {dead or 'none'}")
assert not dead

steps = 600
t0 = time.perf_counter()
print(f";; chance accuracy {1 / P:.3f}, train pairs {n_train}, held-out pairs {len(va)}")
for step in range(1, steps + 1):
    loss, grads = vg(model, xtr, ytr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 60 == 0:
        print(
            "{:step %d :train-ce %.4f :train-acc %.3f :heldout-acc %.3f :secs %.1f}"
            % (step, loss.item(), accuracy(model, xtr, ytr), accuracy(model, xva, yva),
               time.perf_counter() - t0)
        )
print("{:done true :heldout-ce %.4f}" % loss_fn(model, xva, yva).item())
