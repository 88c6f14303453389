"""Hierarchical character model for invented saltmarsh hamlet names.

makemore-style: 8 characters of context are fused two at a time
(FlattenConsecutive) through three Linear/BatchNorm/Tanh stages, then a
27-way softmax. Plain SGD, learning rate 0.1 then 0.01 for the last quarter.
Split losses are reported in eval mode next to count-based baselines.
"""
import math
from functools import partial
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(7)
mx.random.seed(7)

# ---------------------------------------------------------------- data
ONSETS = ["b", "br", "c", "cl", "d", "dr", "f", "g", "gr", "h", "k", "l", "m",
          "n", "p", "r", "s", "sh", "st", "t", "th", "w", "wr", "y"]
VOWELS = ["a", "e", "i", "o", "u", "ea", "oo", "ai", "ow"]
CODAS = ["", "", "", "n", "r", "l", "ck", "m", "s", "ld", "nt"]
SUFFIXES = ["by", "wick", "ton", "ham", "stead", "mere", "fleet", "holm", "sey"]


def hamlet():
    parts = []
    for _ in range(random.choice([1, 1, 2])):
        parts.append(random.choice(ONSETS) + random.choice(VOWELS) + random.choice(CODAS))
    if random.random() < 0.8:
        parts.append(random.choice(SUFFIXES))
    return "".join(parts)[:14]


names = [hamlet() for _ in range(4000)]
random.shuffle(names)
chars = sorted(set("".join(names)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0
itos = {i: c for c, i in stoi.items()}
V = len(stoi)
BLOCK = 8


def build(words):
    xs, ys = [], []
    for w in words:
        ctx = [0] * BLOCK
        for ch in w + ".":
            ix = stoi[ch]
            xs.append(list(ctx))
            ys.append(ix)
            ctx = ctx[1:] + [ix]
    return np.array(xs, dtype=np.int32), np.array(ys, dtype=np.int32)


n_tr = int(0.9 * len(names))
Xtr, Ytr = build(names[:n_tr])
Xva, Yva = build(names[n_tr:])
print(f"{len(names)} names, vocab {V}, train examples {len(Ytr)}, val examples {len(Yva)}")

# count baselines on the validation split
uni = np.bincount(Ytr, minlength=V) + 1.0
uni = uni / uni.sum()
big = np.ones((V, V))
np.add.at(big, (Xtr[:, -1], Ytr), 1.0)
big = big / big.sum(axis=1, keepdims=True)
base_uniform = math.log(V)
base_unigram = float(-np.log(uni[Yva]).mean())
base_bigram = float(-np.log(big[Xva[:, -1], Yva]).mean())
print(f"baselines on val: uniform {base_uniform:.4f} | unigram {base_unigram:.4f} | bigram {base_bigram:.4f}")

Xtr_m, Ytr_m = mx.array(Xtr), mx.array(Ytr)
Xva_m, Yva_m = mx.array(Xva), mx.array(Yva)


# ---------------------------------------------------------------- model
class FlattenConsecutive(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def __call__(self, x):
        B, T, C = x.shape
        x = x.reshape(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        return x


def stage(d_in, d_hidden):
    return [FlattenConsecutive(2), nn.Linear(d_in, d_hidden, bias=False),
            nn.BatchNorm(d_hidden), nn.Tanh()]


N_EMB, N_HID = 12, 64
model = nn.Sequential(
    nn.Embedding(V, N_EMB),
    *stage(2 * N_EMB, N_HID),
    *stage(2 * N_HID, N_HID),
    *stage(2 * N_HID, N_HID),
    nn.Linear(N_HID, V),
)
# last layer starts small so the first predictions are close to uniform
head = model.layers[-1]
head.weight = head.weight * 0.1
head.bias = mx.zeros_like(head.bias)
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"parameters: {n_params}")


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

STEPS = 1600
BATCH = 32
DROP_AT = int(0.75 * STEPS)
optimizer = optim.SGD(learning_rate=0.1)
state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


def split_loss(x, y):
    model.eval()
    out = loss_fn(model, x, y).item()
    model.train()
    return out


model.train()
t0 = time.time()
for step in range(1, STEPS + 1):
    if step == DROP_AT + 1:
        optimizer.learning_rate = mx.array(0.01)
        print(f"-- step {step}: learning rate 0.1 -> 0.01")
    ix = mx.random.randint(0, Xtr_m.shape[0], (BATCH,))
    loss = train_step(Xtr_m[ix], Ytr_m[ix])
    mx.eval(state, loss)
    if step % 200 == 0 or step == 1:
        print(f"step {step:5d}/{STEPS}: minibatch loss {loss.item():.4f}")
    if step == DROP_AT:
        print(f"   before drop: train {split_loss(Xtr_m, Ytr_m):.4f} | val {split_loss(Xva_m, Yva_m):.4f}")

tr, va = split_loss(Xtr_m, Ytr_m), split_loss(Xva_m, Yva_m)
print(f"final: train {tr:.4f} | val {va:.4f} | bigram baseline {base_bigram:.4f} | gain over bigram {base_bigram - va:.4f} nats")
print(f"time {time.time() - t0:.1f}s")

# ---------------------------------------------------------------- samples
model.eval()
out = []
for _ in range(12):
    ctx = [0] * BLOCK
    s = ""
    while len(s) < 20:
        logits = model(mx.array([ctx]))
        ix = mx.random.categorical(logits).item()
        if ix == 0:
            break
        s += itos[ix]
        ctx = ctx[1:] + [ix]
    out.append(s)
print("samples:", ", ".join(out))
seen = set(names)
print(f"novel samples: {sum(1 for s in out if s not in seen)}/12")
