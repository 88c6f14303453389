"""Codec-token language model with a MusicGen-style delay pattern.

Four residual codebook streams (16 codes each) of a synthetic drone-instrument
codec are modelled jointly by one small causal transformer.  Stream k is
shifted right by k steps (the "delay pattern"), so when the model predicts
codebook k of frame t it has already seen codebooks 0..k-1 of that frame.

The token generator is known, so the true conditional entropy of every stream
is printed as the floor the validation NLL can reach.  Training runs in two
stages: stage 1 only scores the two coarse codebooks, stage 2 adds the two
fine ones to the objective, so the reported training loss is an average over
more (and harder) streams from that step on.
"""

import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K = 4          # codebook streams
V = 12         # codes per codebook
T = 16         # frames per clip
BOS = V        # start-of-stream token (before a stream's first frame)
PAD = V + 1    # filler after a stream's last frame
S = T + K - 1  # length of the delayed sequence
DIM = 32
STEPS = 360
STAGE2_AT = 120
BATCH = 24
PEAK_LR = 3e-3
WARMUP = 40

rng = np.random.default_rng(7)


def peaked_rows(n_rows, n_cols, sharp, rng):
    logits = rng.normal(size=(n_rows, n_cols)) * sharp
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


# codebook 0: Markov chain over frames; codebook k: depends on codebook k-1 of
# the same frame and on its own previous frame
A0 = peaked_rows(V, V, 2.2, rng)
# fine streams: factorised logits, one table for the coarser code of the same
# frame and one for the stream's own previous code
P_up = [None] + [rng.normal(size=(V, V)) * (2.0 - 0.2 * k) for k in range(1, K)]
P_own = [None] + [rng.normal(size=(V, V)) * 1.0 for k in range(1, K)]


def sample_clips(n, rng):
    codes = np.zeros((n, K, T), dtype=np.int64)
    logp = np.zeros((n, K, T))
    c0 = rng.integers(0, V, size=n)
    codes[:, 0, 0] = c0
    logp[:, 0, 0] = math.log(1.0 / V)
    for t in range(1, T):
        prev = codes[:, 0, t - 1]
        p = A0[prev]
        u = rng.random((n, 1))
        nxt = (p.cumsum(axis=1) < u).sum(axis=1).clip(0, V - 1)
        codes[:, 0, t] = nxt
        logp[:, 0, t] = np.log(p[np.arange(n), nxt])
    for k in range(1, K):
        for t in range(T):
            own_prev = codes[:, k, t - 1] if t > 0 else rng.integers(0, V, size=n)
            lg = P_up[k][codes[:, k - 1, t]] + P_own[k][own_prev]
            p = np.exp(lg - lg.max(axis=1, keepdims=True))
            p = p / p.sum(axis=1, keepdims=True)
            u = rng.random((n, 1))
            nxt = (p.cumsum(axis=1) < u).sum(axis=1).clip(0, V - 1)
            codes[:, k, t] = nxt
            logp[:, k, t] = np.log(p[np.arange(n), nxt])
    return codes, logp


def delay(codes):
    """(n, K, T) codes -> delayed inputs (n, S, K), targets (n, S, K), mask."""
    n = codes.shape[0]
    tgt = np.full((n, S, K), PAD, dtype=np.int64)
    mask = np.zeros((n, S, K), dtype=np.float32)
    for k in range(K):
        tgt[:, k:k + T, k] = codes[:, k, :]
        mask[:, k:k + T, k] = 1.0
    inp = np.full((n, S, K), BOS, dtype=np.int64)
    inp[:, 1:, :] = tgt[:, :-1, :]
    for k in range(K):
        # before a stream has started its input is BOS, not PAD
        inp[:, : k + 1, k] = BOS
    return inp, tgt, mask


train_codes, train_logp = sample_clips(6000, rng)
val_codes, val_logp = sample_clips(800, rng)
floor = -val_logp.mean(axis=(0, 2))          # per-stream true entropy (nats)
unigram = np.array([
    -np.log(np.bincount(train_codes[:, k].ravel(), minlength=V)[val_codes[:, k].ravel()]
            / train_codes[:, k].size).mean()
    for k in range(K)
])

tr_in, tr_tg, tr_mk = (mx.array(a) for a in delay(train_codes))
va_in, va_tg, va_mk = (mx.array(a) for a in delay(val_codes))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class StaggerLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = [nn.Embedding(V + 2, DIM) for _ in range(K)]
        self.pos = nn.Embedding(S, DIM)
        self.blocks = [Block(DIM, 4) for _ in range(2)]
        self.ln = nn.LayerNorm(DIM)
        self.heads = [nn.Linear(DIM, V) for _ in range(K)]

    def __call__(self, inp):
        x = self.pos(mx.arange(inp.shape[1]))
        for k in range(K):
            x = x + self.tok[k](inp[:, :, k])
        mask = nn.MultiHeadAttention.create_additive_causal_mask(inp.shape[1])
        for b in self.blocks:
            x = b(x, mask)
        x = self.ln(x)
        return mx.stack([h(x) for h in self.heads], axis=2)   # (B, S, K, V)


def per_stream_nll(model, inp, tgt, mask):
    logits = model(inp)
    safe_tgt = mx.where(mask > 0, tgt, 0)
    ce = nn.losses.cross_entropy(logits, safe_tgt) * mask     # (B, S, K)
    return ce.sum(axis=(0, 1)) / mask.sum(axis=(0, 1))       # (K,)


def loss_fn(model, inp, tgt, mask, weights):
    nll = per_stream_nll(model, inp, tgt, mask)
    return (nll * weights).sum() / weights.sum()


mx.random.seed(3)
model = StaggerLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
     optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 2e-4)],
    [WARMUP],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(inp, tgt, mask, weights):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, inp, tgt, mask, weights)
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    return loss, gnorm


def val_report():
    nll = per_stream_nll(model, va_in, va_tg, va_mk)
    logits = model(va_in)
    pred = mx.argmax(logits, axis=-1)
    acc = ((pred == va_tg) * va_mk).sum(axis=(0, 1)) / va_mk.sum(axis=(0, 1))
    mx.eval(nll, acc)
    return np.array(nll), np.array(acc)


print(f"params {n_params}  streams {K} x {V} codes, {T} frames, delayed length {S}")
print("true entropy floor per stream (nats): " + " ".join(f"{f:.3f}" for f in floor))
print("unigram baseline per stream (nats):   " + " ".join(f"{u:.3f}" for u in unigram))

w_stage1 = mx.array([1.0, 1.0, 0.0, 0.0])
w_stage2 = mx.array([1.0, 1.0, 1.0, 1.0])
order = np.random.default_rng(11)
t0 = time.time()
w0 = np.array(model.heads[0].weight)
for it in range(STEPS):
    if it == STAGE2_AT:
        print(f"-- stage 2 from step {it}: codebooks 2-3 join the objective")
    w = w_stage1 if it < STAGE2_AT else w_stage2
    idx = mx.array(order.integers(0, tr_in.shape[0], size=BATCH))
    loss, gnorm = step(tr_in[idx], tr_tg[idx], tr_mk[idx], w)
    mx.eval(state)
    if it == 0:
        moved = float(np.abs(np.array(model.heads[0].weight) - w0).max())
        print(f"step 0  lr {float(schedule(mx.array(0))):.1e}  loss {loss.item():.4f}  "
              f"max |dW| head0 {moved:.2e}")
    if (it + 1) % 60 == 0 or it + 1 == STEPS:
        nll, acc = val_report()
        print(f"step {it + 1:4d}  lr {float(schedule(mx.array(it))):.2e}  train {loss.item():.4f}  "
              f"|g| {gnorm.item():.3f}  val nll " + " ".join(f"{v:.3f}" for v in nll)
              + "  acc " + " ".join(f"{a:.2f}" for a in acc))

nll, acc = val_report()
gap = nll - floor
print("final val nll - floor per stream: " + " ".join(f"{g:+.3f}" for g in gap))
print("final val nll vs unigram per stream: " + " ".join(f"{n - u:+.3f}" for n, u in zip(nll, unigram)))
print(f"done in {time.time() - t0:.1f}s  every stream below its unigram baseline: "
      f"{bool((nll < unigram).all())}  largest gap to floor {gap.max():.3f} nats")
