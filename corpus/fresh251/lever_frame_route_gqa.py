"""Next-lever model for railway signal-box lever-frame logs.

A small causal transformer with grouped-query attention (6 query heads
sharing 2 key/value heads), a sliding attention window of 12 positions and
ALiBi distance penalties in place of position embeddings.  Afterwards the
model is run token by token with a rolling key/value cache and compared
with the full forward pass.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
N_LEVERS = 24          # levers 1..24, token 0 = "train cleared" separator
VOCAB = N_LEVERS + 1
SEQ = 36
WINDOW = 12
N_Q, N_KV, HEAD = 6, 2, 8
DIM = N_Q * HEAD
BATCH = 16
STEPS = 120
WARMUP = 15
MISPULL = 0.03

rng = np.random.default_rng(SEED)

# ---------------------------------------------------------------- synthetic logs
N_ROUTES = 10
routes = [rng.choice(np.arange(1, N_LEVERS + 1), size=rng.integers(4, 8), replace=False)
          for _ in range(N_ROUTES)]
successor = rng.permutation(N_ROUTES)


def make_stream(n_tokens, g):
    out = []
    r = int(g.integers(N_ROUTES))
    while len(out) < n_tokens:
        out.append(0)
        for lever in routes[r]:
            if g.random() < MISPULL:
                out.append(int(g.integers(1, N_LEVERS + 1)))
            else:
                out.append(int(lever))
        r = int(successor[r]) if g.random() < 0.7 else int(g.integers(N_ROUTES))
    return np.array(out[:n_tokens], dtype=np.int32)


train_stream = make_stream(60_000, np.random.default_rng(1))
valid_stream = make_stream(8_000, np.random.default_rng(2))


def windows(stream, n, g):
    starts = g.integers(0, len(stream) - SEQ - 1, size=n)
    x = np.stack([stream[s:s + SEQ] for s in starts])
    y = np.stack([stream[s + 1:s + SEQ + 1] for s in starts])
    return mx.array(x), mx.array(y)


vx, vy = windows(valid_stream, 128, np.random.default_rng(3))


def ngram_bits(train, valid, order=6, alpha=0.1):
    """Back-off free add-alpha counting model over the last `order` tokens."""
    counts = {}
    for i in range(order, len(train)):
        ctx = tuple(train[i - order:i])
        row = counts.setdefault(ctx, np.zeros(VOCAB))
        row[train[i]] += 1
    tot = 0.0
    for i in range(order, len(valid)):
        row = counts.get(tuple(valid[i - order:i]), np.zeros(VOCAB))
        p = (row[valid[i]] + alpha) / (row.sum() + alpha * VOCAB)
        tot -= math.log2(p)
    return tot / (len(valid) - order)


# ---------------------------------------------------------------- model
def alibi_slopes(n):
    start = 2 ** (-8 / n)
    return np.array([start ** (i + 1) for i in range(n)], dtype=np.float32)


def band_bias(q_pos, k_pos):
    """Additive mask: ALiBi penalty inside the causal window, -inf outside."""
    dist = q_pos[:, None] - k_pos[None, :]
    allowed = (dist >= 0) & (dist < WINDOW)
    slopes = mx.array(alibi_slopes(N_Q))[:, None, None]
    bias = -slopes * dist.astype(mx.float32)
    return mx.where(allowed, bias, -float("inf"))[None]


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(DIM, N_Q * HEAD, bias=False)
        self.k = nn.Linear(DIM, N_KV * HEAD, bias=False)
        self.v = nn.Linear(DIM, N_KV * HEAD, bias=False)
        self.o = nn.Linear(N_Q * HEAD, DIM, bias=False)

    def __call__(self, x, bias, cache=None):
        B, L, _ = x.shape
        q = self.q(x).reshape(B, L, N_Q, HEAD).transpose(0, 2, 1, 3)
        k = self.k(x).reshape(B, L, N_KV, HEAD).transpose(0, 2, 1, 3)
        v = self.v(x).reshape(B, L, N_KV, HEAD).transpose(0, 2, 1, 3)
        if cache is not None:
            if cache["k"] is not None:
                k = mx.concatenate([cache["k"], k], axis=2)
                v = mx.concatenate([cache["v"], v], axis=2)
            cache["k"], cache["v"] = k[:, :, -(WINDOW - 1):], v[:, :, -(WINDOW - 1):]
        rep = N_Q // N_KV
        k = mx.repeat(k, rep, axis=1)
        v = mx.repeat(v, rep, axis=1)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=HEAD ** -0.5, mask=bias)
        return self.o(out.transpose(0, 2, 1, 3).reshape(B, L, -1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.RMSNorm(DIM)
        self.att = Attention()
        self.n2 = nn.RMSNorm(DIM)
        self.ff1 = nn.Linear(DIM, 4 * DIM)
        self.ff2 = nn.Linear(4 * DIM, DIM)

    def __call__(self, x, bias, cache=None):
        x = x + self.att(self.n1(x), bias, cache)
        return x + self.ff2(nn.gelu(self.ff1(self.n2(x))))


class LeverLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block(), Block()]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens, bias=None, caches=None):
        if bias is None:
            pos = mx.arange(tokens.shape[1])
            bias = band_bias(pos, pos)
        h = self.emb(tokens)
        for i, blk in enumerate(self.blocks):
            h = blk(h, bias, None if caches is None else caches[i])
        return self.head(self.norm(h))


def bits(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean") / math.log(2)


def top1(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean() * 100


# ---------------------------------------------------------------- training
mx.random.seed(SEED)
model = LeverLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARMUP), optim.cosine_decay(3e-3, STEPS - WARMUP, 1e-4)],
    [WARMUP],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, bits)

print("---")
print("data: lever-frame logs")
print(f"  routes: {N_ROUTES}  levers: {N_LEVERS}  mispull_rate: {MISPULL}")
print(f"  train_tokens: {len(train_stream)}  valid_windows: {vx.shape[0]}x{SEQ}")
print(f"  unigram_bits: {-(np.bincount(train_stream, minlength=VOCAB) / len(train_stream) * np.log2(np.bincount(train_stream, minlength=VOCAB) / len(train_stream) + 1e-12)).sum():.3f}")
print(f"  order6_counting_model_valid_bits: {ngram_bits(train_stream, valid_stream):.3f}")
print(f"model: params={n_params} q_heads={N_Q} kv_heads={N_KV} window={WINDOW}")

x0, y0 = windows(train_stream, BATCH, np.random.default_rng(100))
_, g0 = loss_and_grad(model, x0, y0)
flat = tree_flatten(g0)
zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
print(f"grad_check: leaves={len(flat)} all_zero={zero}")
print("---")
print(f"step: 0\nvalid_bits: {bits(model, vx, vy).item():.4f}\nvalid_top1_pct: {top1(model, vx, vy).item():.2f}")

g = np.random.default_rng(11)
window_losses = []
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    lr_used = float(sched(mx.array(opt.step)))
    x, y = windows(train_stream, BATCH, g)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window_losses.append(loss.item())
    if step in (1, WARMUP) or step in (40, 80, 120):
        print("---")
        print(f"step: {step}\nlr_used: {lr_used:.6f}")
        print(f"train_bits_window: {np.mean(window_losses):.4f}")
        print(f"valid_bits: {bits(model, vx, vy).item():.4f}")
        print(f"valid_top1_pct: {top1(model, vx, vy).item():.2f}")
        print(f"elapsed_s: {time.perf_counter() - t0:.1f}")
        window_losses = []

# ---------------------------------------------------------------- cached decode
seq = vx[:4]
full = model(seq)
caches = [{"k": None, "v": None}, {"k": None, "v": None}]
steps_out = []
for t in range(SEQ):
    k_lo = max(0, t - (WINDOW - 1))
    bias = band_bias(mx.array([t]), mx.arange(k_lo, t + 1))
    steps_out.append(model(seq[:, t:t + 1], bias, caches))
cached = mx.concatenate(steps_out, axis=1)
diff = mx.abs(cached - full).max().item()

# greedy completion of a route from its first lever
hits, tries = 0, 0
for r, route in enumerate(routes):
    ctx = mx.array([[0, int(route[0])]])
    caches = [{"k": None, "v": None}, {"k": None, "v": None}]
    out = model(ctx[:, :1], band_bias(mx.array([0]), mx.array([0])), caches)
    out = model(ctx[:, 1:], band_bias(mx.array([1]), mx.arange(0, 2)), caches)
    got, t = [], 2
    for _ in range(len(route) - 1):
        nxt = int(mx.argmax(out[0, -1]).item())
        got.append(nxt)
        k_lo = max(0, t - (WINDOW - 1))
        out = model(mx.array([[nxt]]), band_bias(mx.array([t]), mx.arange(k_lo, t + 1)), caches)
        t += 1
    hits += int(got == [int(v) for v in route[1:]])
    tries += 1

print("---")
print("done: true")
print(f"cached_vs_full_max_abs_logit_diff: {diff:.2e}")
print(f"greedy_route_completion_pct: {100 * hits / tries:.1f}")
print(f"final_valid_bits: {bits(model, vx, vy).item():.4f}")
