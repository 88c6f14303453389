"""Drover waybill language model, pretrained from scratch.

Waybills are written in a 16-symbol shorthand (stations, head counts,
tolls, ...). The synthetic corpus comes from an order-2 Markov source, so
the best reachable loss (the source entropy rate) is known exactly.

Training uses a context-length ramp: 8 -> 16 -> 32 -> 64 tokens, with the
batch shrunk so every step still sees 256 target tokens. Each stage gets a
fresh AdamW whose learning rate warms up from 0. During the first three
stages an auxiliary head also predicts the token two places ahead; in the
last stage that head is frozen and only reported.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 16
MAX_CTX = 64
rng = np.random.default_rng(7)

# ---- order-2 Markov source with 3 successors per context -----------------
succ = np.zeros((V, V, V))
for a in range(V):
    for b in range(V):
        nxt = rng.choice(V, size=3, replace=False)
        p = rng.dirichlet([3.0, 1.5, 0.7])
        succ[a, b, nxt] = p


def sample_stream(n, seed):
    r = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int32)
    out[0], out[1] = r.integers(V), r.integers(V)
    u = r.random(n)
    cdf = np.cumsum(succ, axis=-1)
    for t in range(2, n):
        out[t] = min(int(np.searchsorted(cdf[out[t - 2], out[t - 1]], u[t])), V - 1)
    return out


def source_entropies():
    # stationary distribution over pairs (a, b)
    P = np.zeros((V * V, V * V))
    for a in range(V):
        for b in range(V):
            for c in range(V):
                P[a * V + b, b * V + c] = succ[a, b, c]
    pi = np.full(V * V, 1.0 / (V * V))
    for _ in range(2000):
        pi = pi @ P
    pi /= pi.sum()
    pab = pi.reshape(V, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_ctx = -np.nansum(np.where(succ > 0, succ * np.log2(succ), 0.0), axis=-1)
    h2 = float((pab * h_ctx).sum())
    pb = pab.sum(0)
    joint_bc = np.einsum("ab,abc->bc", pab, succ)
    cond_c_b = joint_bc / joint_bc.sum(1, keepdims=True)
    h1 = float(-(joint_bc * np.log2(np.where(cond_c_b > 0, cond_c_b, 1))).sum())
    h0 = float(-(pb * np.log2(pb)).sum())
    return h0, h1, h2


train_stream = sample_stream(220_000, 1)
valid_stream = sample_stream(8_000, 2)
H0, H1, H2 = source_entropies()
print(f"source: unigram {H0:.3f} bits | bigram {H1:.3f} bits | entropy rate {H2:.3f} bits")


# ---- model ------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class WaybillLM(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(MAX_CTX, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)
        self.head_skip = nn.Linear(d, V)

    def __call__(self, x):
        T = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        h = self.tok(x) + self.pos(mx.arange(T))
        for blk in self.blocks:
            h = blk(h, mask)
        h = self.ln_f(h)
        return self.head(h), self.head_skip(h)


def batch_from(stream, ctx, bsz, r):
    starts = r.integers(0, len(stream) - ctx - 2, size=bsz)
    idx = starts[:, None] + np.arange(ctx + 2)[None, :]
    w = stream[idx]
    return mx.array(w[:, :ctx]), mx.array(w[:, 1 : ctx + 1]), mx.array(w[:, 2 : ctx + 2])


def loss_fn(model, x, y1, y2, aux_w):
    l1, l2 = model(x)
    ce1 = nn.losses.cross_entropy(l1, y1, reduction="mean")
    ce2 = nn.losses.cross_entropy(l2, y2, reduction="mean")
    return ce1 + aux_w * ce2, (ce1, ce2)


def evaluate(model, ctx=MAX_CTX):
    tot1 = tot2 = 0.0
    n = 0
    for s in range(0, len(valid_stream) - ctx - 2, ctx * 8):
        starts = np.arange(s, min(s + ctx * 8, len(valid_stream) - ctx - 2), ctx)
        idx = starts[:, None] + np.arange(ctx + 2)[None, :]
        w = valid_stream[idx]
        l1, l2 = model(mx.array(w[:, :ctx]))
        c1 = nn.losses.cross_entropy(l1, mx.array(w[:, 1 : ctx + 1]), reduction="sum")
        c2 = nn.losses.cross_entropy(l2, mx.array(w[:, 2 : ctx + 2]), reduction="sum")
        tot1 += c1.item()
        tot2 += c2.item()
        n += starts.size * ctx
    return tot1 / n / math.log(2), tot2 / n / math.log(2)


mx.random.seed(3)
model = WaybillLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters()))
print(f"params {n_params}")

stages = [(8, 32, 0.5), (16, 16, 0.5), (32, 8, 0.5), (64, 4, 0.0)]
steps_per_stage = 100
warm = 20
peak_lr = 3e-3
data_rng = np.random.default_rng(11)
t0 = time.time()
gstep = 0

for si, (ctx, bsz, aux_w) in enumerate(stages):
    if aux_w == 0.0:
        model.head_skip.freeze()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm),
         optim.cosine_decay(peak_lr, steps_per_stage - warm, peak_lr * 0.1)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"== stage {si + 1}: ctx {ctx} batch {bsz} (tokens/step {ctx * bsz}) aux weight {aux_w}")
    run1 = run2 = 0.0
    for it in range(steps_per_stage):
        x, y1, y2 = batch_from(train_stream, ctx, bsz, data_rng)
        lr_now = float(sched(it))
        (loss, (ce1, ce2)), grads = step_fn(model, x, y1, y2, aux_w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, ce1, ce2)
        run1 += ce1.item()
        run2 += ce2.item()
        gstep += 1
        if (it + 1) % 20 == 0:
            b1 = run1 / 20 / math.log(2)
            b2 = run2 / 20 / math.log(2)
            print(f"step {gstep:4d} | ctx {ctx:2d} | lr {lr_now:.2e} | next {b1:.3f} bits | skip {b2:.3f} bits")
            run1 = run2 = 0.0
    v1, v2 = evaluate(model)
    print(f"-- stage {si + 1} valid@64: next {v1:.3f} bits (floor {H2:.3f}, gap {v1 - H2:+.3f}) | skip {v2:.3f} bits")

v1, _ = evaluate(model)
print(f"final valid next-token {v1:.3f} bits/token, perplexity {2 ** v1:.3f}")
print(f"baselines: unigram {H0:.3f} | bigram {H1:.3f} | floor {H2:.3f}")
print(f"elapsed {time.time() - t0:.1f}s")
