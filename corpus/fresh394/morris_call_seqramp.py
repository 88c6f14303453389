"""Morris side caller: next-figure model over called dance sequences.

Sequence-length warm-up: training windows grow 8 -> 16 -> 32 -> 64 calls while
the batch shrinks 64 -> 8, so every update sees 512 calls.  Each dance opens
with its tradition token, which decides the figure cycle that follows.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
FIGURES = ["foot-up", "half-gyp", "back-to-back", "rounds", "cross-over",
           "hey", "whole-gyp", "chorus-a", "chorus-b", "caper", "sidestep",
           "all-in", "dance-off", "heys-on", "stick-clash", "halfhands"]
TRADITIONS = ["Bampton", "Headington", "Adderbury", "Fieldtown", "Bledington", "Ducklington"]
V = len(TRADITIONS) + len(FIGURES)
MAXLEN = 64

cycles = []
for t in range(len(TRADITIONS)):
    period = rng.integers(5, 10)
    cycles.append(rng.choice(len(FIGURES), size=period, replace=True))


def dance(length):
    t = rng.integers(len(TRADITIONS))
    cyc = cycles[t]
    seq = [t]
    off = rng.integers(len(cyc))
    for i in range(length - 1):
        f = cyc[(off + i) % len(cyc)]
        if rng.random() < 0.08:
            f = rng.integers(len(FIGURES))
        seq.append(len(TRADITIONS) + f)
    return seq


def corpus(n):
    return np.array([dance(MAXLEN + 1) for _ in range(n)], dtype=np.int32)


train = corpus(6000)
valid = corpus(200)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class Caller(nn.Module):
    def __init__(self, d=32, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)

    def __call__(self, x):
        L = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln(h))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


STAGES = [(8, 32, 90), (16, 16, 90), (32, 8, 120), (64, 4, 180)]
TOTAL = sum(s[2] for s in STAGES)
WARM = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 1e-4)],
    [WARM])

mx.random.seed(7)
model = Caller()
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
grad_fn = nn.value_and_grad(model, loss_fn)
LN2 = math.log(2)


def window(data, L, B):
    rows = rng.integers(0, data.shape[0], size=B)
    starts = rng.integers(0, MAXLEN - L + 1, size=B)
    w = np.stack([data[r, s:s + L + 1] for r, s in zip(rows, starts)])
    return mx.array(w[:, :-1]), mx.array(w[:, 1:])


def valid_bits(L):
    x = mx.array(valid[:, :L])
    y = mx.array(valid[:, 1:L + 1])
    return loss_fn(model, x, y).item() / LN2


print(f"dances: train {len(train)} x {MAXLEN + 1} calls, valid {len(valid)}; vocab {V}")
print(f"uniform guess {math.log2(V):.2f} bits/call; cycle periods "
      + ",".join(str(len(c)) for c in cycles))
print(f"start: valid bits @8 {valid_bits(8):.3f}  @64 {valid_bits(64):.3f}")
step = 0
for si, (L, B, n) in enumerate(STAGES, 1):
    print(f"== stage {si}: windows of {L} calls x batch {B} ({L * B} calls/update), "
          f"{n} updates")
    run, t0 = [], time.perf_counter()
    for i in range(n):
        x, y = window(train, L, B)
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        step += 1
        run.append(loss.item() / LN2)
        if (i + 1) % 30 == 0:
            dt = 1000 * (time.perf_counter() - t0) / 30
            print(f"  step {step:4d} | lr {opt.learning_rate.item():.2e} | train {np.mean(run):.3f} bits/call"
                  f" | valid@8 {valid_bits(8):.3f} | valid@64 {valid_bits(64):.3f} | {dt:.1f} ms/update")
            run, t0 = [], time.perf_counter()

print(f"done after {step} updates: valid bits/call @8 {valid_bits(8):.3f}  @64 {valid_bits(64):.3f}")
