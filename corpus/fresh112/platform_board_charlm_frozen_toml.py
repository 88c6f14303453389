"""Char-level next-character model for station departure-board lines.

The character embedding table is a fixed random table (frozen on purpose: we want
to see how far an MLP gets on top of fixed codes).  Only the MLP trains.
Learning rate warms up from exactly 0.  Reports are TOML [[report]] tables,
loss in bits per character.
"""
import math
import random
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

STATIONS = ["Leeds", "York", "Hull", "Derby", "Crewe", "Bath", "Ely", "Perth", "Wigan", "Truro"]
STATUS = ["on time", "delayed", "cancelled", "exp"]


def board_line(rng):
    hh, mm = rng.randrange(5, 24), rng.randrange(0, 60, 3)
    a, b = rng.sample(STATIONS, 2)
    st = rng.choice(STATUS)
    if st == "exp":
        d = rng.choice([3, 6, 9, 12])
        m2 = (mm + d) % 60
        h2 = hh + (mm + d) // 60
        st = f"exp {h2:02d}:{m2:02d}"
    return f"{hh:02d}:{mm:02d} {a} to {b} plat {rng.randrange(1, 9)} {st}\n"


rng = random.Random(7)
train_txt = "".join(board_line(rng) for _ in range(2200))
valid_txt = "".join(board_line(rng) for _ in range(300))
chars = sorted(set(train_txt + valid_txt))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
CTX = 8


def windows(txt):
    ids = np.array([stoi[c] for c in txt], dtype=np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(ids) - CTX)[:, None]
    return ids[idx], ids[CTX:]


Xtr, Ytr = windows(train_txt)
Xva, Yva = windows(valid_txt)


class BoardLM(nn.Module):
    def __init__(self, vocab, ctx, d_emb=16, hidden=192):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_emb)
        self.fc1 = nn.Linear(ctx * d_emb, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = h + nn.gelu(self.fc2(h))
        return self.out(h)


mx.random.seed(3)
model = BoardLM(V, CTX)
model.embed.freeze()  # fixed code table, on purpose
table0 = np.array(model.embed.weight)

n_frozen = len(tree_flatten(model.parameters())) - len(tree_flatten(model.trainable_parameters()))

STEPS, BATCH, WARM = 800, 96, 100
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = loss_and_grad(model, x, y)
    opt.update(model, g)
    return loss


def bits_on(X, Y, bs=2048):
    tot = 0.0
    for i in range(0, len(X), bs):
        xb, yb = mx.array(X[i:i + bs]), mx.array(Y[i:i + bs])
        tot += nn.losses.cross_entropy(model(xb), yb, reduction="sum").item()
    return tot / len(X) / math.log(2)


def toml_table(name, d):
    print(f"[[{name}]]")
    for k, v in d.items():
        if isinstance(v, str):
            print(f'{k} = "{v}"')
        elif isinstance(v, float):
            print(f"{k} = {v:.4f}")
        else:
            print(f"{k} = {v}")
    print()


toml_table("data", {"vocab": V, "context": CTX, "train_windows": len(Xtr), "valid_windows": len(Xva),
                    "uniform_bits": math.log2(V), "frozen_leaves": n_frozen,
                    "trainable_leaves": len(tree_flatten(model.trainable_parameters()))})

# first-step gradient audit on the trainable leaves
_, g0 = loss_and_grad(model, mx.array(Xtr[:BATCH]), mx.array(Ytr[:BATCH]))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
toml_table("gradcheck", {"leaves": len(tree_flatten(g0)), "zero_leaves": str(zero)})

toml_table("report", {"step": 0, "lr": 0.0, "valid_bits_per_char": bits_on(Xva, Yva)})

np_rng = np.random.default_rng(0)
t0 = time.perf_counter()
window = []
for it in range(1, STEPS + 1):
    idx = np_rng.integers(0, len(Xtr), BATCH)
    lr_now = float(sched(opt.step))  # lr used by this update
    loss = step(mx.array(Xtr[idx]), mx.array(Ytr[idx]))
    mx.eval(loss, state)
    window.append(loss.item())
    if it in (1, 50) or it % 200 == 0:
        toml_table("report", {
            "step": it,
            "lr": lr_now,
            "train_bits_per_char": float(np.mean(window)) / math.log(2),
            "valid_bits_per_char": bits_on(Xva, Yva),
            "seconds": time.perf_counter() - t0,
        })
        window = []

drift = float(np.abs(np.array(model.embed.weight) - table0).max())
toml_table("done", {"steps": STEPS, "frozen_table_max_change": drift,
                    "seconds": time.perf_counter() - t0})
