"""Tiny char-level LM over synthetic Go game records (SGF move lists).

Context-window MLP language model, gradient accumulation over micro-batches,
global-norm clipping of the accumulated gradient tree, Adam, val bits-per-byte.
"""
from __future__ import annotations

import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
CTX = 12
ITERATIONS = 260
GRAD_ACCUM_STEPS = 2
MICRO_BATCH = 96
GRAD_CLIP_NORM = 1.0
LR = 3e-3
VAL_EVERY = 65

random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

COLS = "abcdefghijklmnopqrs"
JOSEKI = [
    ["pd", "qf", "nc", "rd", "qc", "qi"],
    ["dp", "fq", "cn", "dr", "cq", "iq"],
    ["pp", "nq", "pn", "rq", "qq", "qr"],
    ["dd", "cf", "fc", "dc", "cc", "bc"],
]


def make_game(rng: random.Random) -> str:
    moves = []
    for corner in rng.sample(JOSEKI, k=rng.randint(2, 4)):
        moves.extend(corner[: rng.randint(3, len(corner))])
    for _ in range(rng.randint(4, 10)):
        moves.append(rng.choice(COLS[3:16]) + rng.choice(COLS[3:16]))
    body = "".join(
        (";B[" if i % 2 == 0 else ";W[") + m + "]" for i, m in enumerate(moves)
    )
    komi = rng.choice(["6.5", "7.5", "0.5"])
    res = rng.choice(["B+R", "W+R", "B+3.5", "W+0.5", "W+12.5"])
    return f"(;GM[1]SZ[19]KM[{komi}]RE[{res}]{body})\n"


rng = random.Random(SEED)
train_text = "".join(make_game(rng) for _ in range(900))
val_text = "".join(make_game(rng) for _ in range(120))
vocab = sorted(set(train_text + val_text))
stoi = {c: i for i, c in enumerate(vocab)}
train_ids = np.array([stoi[c] for c in train_text], dtype=np.int32)
val_ids = np.array([stoi[c] for c in val_text], dtype=np.int32)
V = len(vocab)


class TokenStream:
    def __init__(self, ids: np.ndarray, seed: int):
        self.ids = ids
        self.rs = np.random.RandomState(seed)

    def next_batch(self, n: int):
        starts = self.rs.randint(0, self.ids.size - CTX - 1, size=n)
        x = np.stack([self.ids[s : s + CTX] for s in starts])
        y = self.ids[starts + CTX]
        return mx.array(x), mx.array(y)


class WindowLM(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 24, hidden: int = 192):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, vocab_size)

    def __call__(self, x):
        h = self.tok(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.norm(self.fc1(h)))
        return self.fc2(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accumulate_flat_grads(accum, grads, scale):
    flat = dict(tree_flatten(grads))
    if accum is None:
        return {k: g * scale for k, g in flat.items()}
    return {k: accum[k] + g * scale for k, g in flat.items()}


def eval_val(model, ids: np.ndarray):
    n = (ids.size - CTX - 1) // 4
    starts = np.arange(0, n * 4, 4)
    x = mx.array(np.stack([ids[s : s + CTX] for s in starts]))
    y = mx.array(ids[starts + CTX])
    val_loss = nn.losses.cross_entropy(model(x), y, reduction="mean").item()
    val_bpb = val_loss / math.log(2.0)
    return val_loss, val_bpb


    if max_norm <= 0:
        return grads_tree
    flat = dict(tree_flatten(grads_tree))
    total_sq = sum(float(np.sum(np.square(np.array(g, dtype=np.float32)), dtype=np.float64)) for g in flat.values())
    if total_sq <= 0 or math.sqrt(total_sq) <= max_norm:
        return grads_tree
    scale = max_norm / (math.sqrt(total_sq) + 1e-12)
    return tree_unflatten([(k, g * scale) for k, g in flat.items()])


def main():
    model = WindowLM(V)
    mx.eval(model.parameters())
    n_params = sum(p.size for _, p in tree_flatten(model.parameters()))
    print(f"vocab:{V} train_bytes:{train_ids.size} val_bytes:{val_ids.size} params:{n_params}")
    opt = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    loader = TokenStream(train_ids, SEED + 1)

    vl, vb = eval_val(model, val_ids)
    print(f"step:0/{ITERATIONS} val_loss:{vl:.4f} val_bpb:{vb:.4f} (uniform bpb {math.log2(V):.4f})")
    t0 = time.perf_counter()
    for step in range(1, ITERATIONS + 1):
        accum = None
        train_loss = mx.array(0.0, dtype=mx.float32)
        gs = 1.0 / GRAD_ACCUM_STEPS
        for _ in range(GRAD_ACCUM_STEPS):
            x, y = loader.next_batch(MICRO_BATCH)
            loss, grads = loss_and_grad(model, x, y)
            accum = accumulate_flat_grads(accum, grads, gs)
            train_loss = train_loss + loss.astype(mx.float32) * gs
            mx.eval(train_loss, accum)
        grads = tree_unflatten(list(accum.items()))
        grads = clip_grad_tree(grads, GRAD_CLIP_NORM)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        tl = float(train_loss.item())
        if step % 20 == 0 or step == 1:
            ms = 1000.0 * (time.perf_counter() - t0) / step
            print(f"step:{step}/{ITERATIONS} train_loss:{tl:.4f} step_avg:{ms:.1f}ms")
        if step % VAL_EVERY == 0:
            vl, vb = eval_val(model, val_ids)
            print(f"step:{step}/{ITERATIONS} val_loss:{vl:.4f} val_bpb:{vb:.4f}")
    print(f"final_val_bpb:{vb:.4f} train_time:{time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
