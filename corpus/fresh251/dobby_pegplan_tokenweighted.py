"""Dobby loom peg plans: next-pick prediction with a tiny causal transformer.

Each peg plan repeats a draft of 4-8 lift patterns (12 pattern ids), with a few
mis-pegged picks. Sequences have different lengths and are padded; the loss of an
update is the token-weighted mean over 2 micro-batches. Layers are recomputed in
the backward pass. Two stages (short plans, then long plans); the learning rate
warms up from 0 again at the start of each stage.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(5)
mx.random.seed(5)
VOCAB, PAD = 12, 12
MISPEG = 0.04


def peg_plan(length):
    period = rng.integers(4, 9)
    draft = rng.integers(0, VOCAB, size=period)
    seq = np.resize(draft, length).copy()
    bad = rng.random(length) < MISPEG
    seq[bad] = rng.integers(0, VOCAB, size=bad.sum())
    return seq


def batch(n, lo, hi, max_len):
    x = np.full((n, max_len), PAD, dtype=np.int32)
    for i in range(n):
        L = rng.integers(lo, hi + 1)
        x[i, :L] = peg_plan(L)
    x = mx.array(x)
    inp, tgt = x[:, :-1], x[:, 1:]
    mask = (tgt != PAD) & (inp != PAD)
    return inp, tgt, mask


class Layer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def __call__(self, h, mask):
        a = self.ln1(h)
        h = h + self.attn(a, a, a, mask=mask)
        return h + self.ff2(nn.silu(self.ff1(self.ln2(h))))


class PegModel(nn.Module):
    def __init__(self, d=32, heads=4, n_layers=2, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB + 1, d)
        self.pos = nn.Embedding(max_len, d)
        self.layers = [Layer(d, heads) for _ in range(n_layers)]
        self.out = nn.Linear(d, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        m = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for layer in self.layers:
            h = nn.utils.checkpoint(layer)(h, m)
        return self.out(h)


def nll_sum(model, inp, tgt, mask):
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, mx.where(mask, tgt, 0), reduction="none")
    return (ce * mask).sum()


model = PegModel()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, nll_sum)
opt = optim.Adam(learning_rate=0.0)
UNIFORM = math.log(VOCAB)

STAGES = [("short plans", 12, 16, 17, 45), ("long plans", 20, 26, 27, 45)]
N_MICRO, MICRO, PEAK, WARM = 2, 16, 5e-3, 8


def lr_for(i, n):
    if i < WARM:
        return PEAK * i / WARM
    return PEAK * 0.5 * (1 + math.cos(math.pi * (i - WARM) / (n - WARM)))


def evaluate(lo, hi, max_len, n=96):
    inp, tgt, mask = batch(n, lo, hi, max_len)
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, mx.where(mask, tgt, 0), reduction="none")
    hit = (logits.argmax(-1) == tgt) & mask
    tok = mask.sum()
    return (ce * mask).sum().item() / tok.item(), hit.sum().item() / tok.item()


print(f"uniform guess: {UNIFORM:.3f} nats/pick   mis-peg rate {MISPEG:.0%}")
t0 = time.time()
for name, lo, hi, max_len, n_steps in STAGES:
    v0, a0 = evaluate(lo, hi, max_len)
    print(f"== stage '{name}' lengths {lo}-{hi}: start val {v0:.3f} nats, acc {a0:.3f}")
    for i in range(n_steps):
        opt.learning_rate = lr_for(i, n_steps)
        acc_g, acc_loss, acc_tok = None, mx.array(0.0), mx.array(0)
        for _ in range(N_MICRO):
            inp, tgt, mask = batch(MICRO, lo, hi, max_len)
            s, g = grad_fn(model, inp, tgt, mask)
            acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
            acc_loss = acc_loss + s
            acc_tok = acc_tok + mask.sum()
            mx.eval(acc_g, acc_loss, acc_tok)
        acc_g = tree_map(lambda a: a / acc_tok, acc_g)
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state)
        if i % 11 == 0 or i == n_steps - 1:
            tr = acc_loss.item() / acc_tok.item()
            print(f"  {name:11s} step {i:2d}  lr={opt.learning_rate.item():.2e}  train {tr:.3f} nats"
                  f"  gain vs uniform {tr - UNIFORM:+.3f}  picks {acc_tok.item()}")
    v, a = evaluate(lo, hi, max_len)
    print(f"== stage '{name}' done: val {v:.3f} nats, next-pick acc {a:.3f}")

v_short, a_short = evaluate(12, 16, 17)
print(f"recheck short plans after long stage: val {v_short:.3f} nats, acc {a_short:.3f}")
n_par = sum(p.size for _, p in tree_flatten(model.parameters()))
print(f"params {n_par}  wall {time.time() - t0:.1f}s")
