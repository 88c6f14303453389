"""Character-level n-gram neural language model (embedding of the last K characters + MLP) on
stdlib docstrings; reports bits-per-character on a held-out slice; Adafactor; epochs x batches."""
import argparse
import collections
import json
import math
import textwrap

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

text = " ".join((m.__doc__ or "") for m in (argparse, collections, json, textwrap, math)) * 2
chars = sorted(set(text))
V, K = len(chars), 6
ids = mx.array([chars.index(ch) for ch in text])
split = int(0.9 * ids.size)
train, val = ids[:split], ids[split:]


class CharMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.hidden = nn.Linear(K * 16, 128)
        self.head = nn.Linear(128, V)

    def __call__(self, ctx):
        h = self.emb(ctx).reshape(ctx.shape[0], -1)
        return self.head(nn.tanh(self.hidden(h)))


def batch(data, n):
    starts = mx.random.randint(0, data.size - K - 1, (n,))
    idx = starts[:, None] + mx.arange(K + 1)[None]
    seq = data[idx]
    return seq[:, :-1], seq[:, -1]


def nll(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


mx.random.seed(5)
model = CharMLP()
opt = optim.Adafactor(learning_rate=1e-2, relative_step=False)
step = nn.value_and_grad(model, nll)
for epoch in range(1, 9):
    for _ in range(150):
        x, y = batch(train, 64)
        loss, g = step(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    vx, vy = batch(val, 2000)
    bpc = nll(model, vx, vy).item() / math.log(2)
    print(f"epoch {epoch} | train {loss.item() / math.log(2):.3f} bpc | val {bpc:.3f} bpc")
