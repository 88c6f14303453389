# Tiny Gemma-2-style decoder (attention logit soft-capping, RMSNorm, GeGLU MLP)
# trained as a next-token LM on sequences from a known 12-state Markov chain,
# so the best achievable loss (the chain's entropy rate) is known exactly.
# The causal mask is a boolean mask, as mlx-lm builds them.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
V, T, D, HEADS = 12, 16, 32, 4

# --- a random sparse-ish Markov chain with a known entropy rate -------------
logits_P = 2.5 * mx.random.normal((V, V))
P = mx.softmax(logits_P, axis=-1)
pi = mx.ones((V,)) / V
for _ in range(200):
    pi = pi @ P
H_rate = -(pi[:, None] * P * mx.log(P)).sum().item()


def sample_batch(n, key):
    keys = mx.random.split(key, T + 1)
    s = mx.random.categorical(mx.broadcast_to(mx.log(pi), (n, V)), key=keys[0])
    seq = [s]
    for t in range(T):
        s = mx.random.categorical(mx.log(P[s]), key=keys[t + 1])
        seq.append(s)
    return mx.stack(seq, axis=1)  # (n, T+1)


class Attention(nn.Module):
    def __init__(self, dim, heads, softcap=50.0):
        super().__init__()
        self.h = heads
        self.hd = dim // heads
        self.scale = self.hd ** -0.5
        self.softcap = softcap
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.o = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (a.reshape(B, L, self.h, self.hd).transpose(0, 2, 1, 3) for a in (q, k, v))
        scores = (q * self.scale) @ k.transpose(0, 1, 3, 2)
        scores = mx.tanh(scores / self.softcap) * self.softcap
        if mask is not None:
            if mask.dtype == mx.bool_:
                scores = mx.where(
                    mask, scores, mx.array(mx.finfo(scores.dtype).min, scores.dtype)
                )
            else:
                scores = scores + mask
        scores = mx.softmax(scores, precise=True, axis=-1)
        out = (scores @ v).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.o(out)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1 = nn.RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.n2 = nn.RMSNorm(dim)
        self.gate = nn.Linear(dim, 2 * dim, bias=False)
        self.up = nn.Linear(dim, 2 * dim, bias=False)
        self.down = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, x, mask):
        x = x + self.attn(self.n1(x), mask)
        h = self.n2(x)
        return x + self.down(nn.gelu_approx(self.gate(h)) * self.up(h))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = [Block(D, HEADS) for _ in range(2)]
        self.norm = nn.RMSNorm(D)

    def __call__(self, tokens):
        L = tokens.shape[1]
        idx = mx.arange(L)
        mask = idx[:, None] >= idx[None, :]  # boolean causal mask
        x = self.emb(tokens) * math.sqrt(D)
        for b in self.blocks:
            x = b(x, mask)
        return self.emb.as_linear(self.norm(x))


def lm_loss(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def streaming_nll(model, seq):
    """Score each next token seeing only the prefix (as in generation)."""
    tot = 0.0
    for t in range(1, seq.shape[1]):
        logits = model(seq[:, :t])[:, -1]
        tot += nn.losses.cross_entropy(logits, seq[:, t], reduction="mean").item()
    return tot / (seq.shape[1] - 1)


model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, lm_loss)

held_out = sample_batch(256, mx.random.key(12345))
train_pool = sample_batch(4096, mx.random.key(777))
mx.eval(held_out, train_pool)
print(f"entropy-rate floor: {H_rate:.3f} nats/token  (uniform guess {math.log(V):.3f})")
t0 = time.time()
key = mx.random.key(1)
for it in range(1, 201):
    key, sub = mx.random.split(key)
    batch = train_pool[mx.random.randint(0, train_pool.shape[0], (64,), key=sub)]
    loss, grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0 or it == 1:
        ev = lm_loss(model, held_out).item()
        print(f"it {it:04d} | train_nll {loss.item():.3f} | heldout_nll {ev:.3f} | floor {H_rate:.3f}")

stream = streaming_nll(model, held_out)
print(f"streaming (prefix-only) held-out nll: {stream:.3f}  vs floor {H_rate:.3f}")
print(f"done in {time.time() - t0:.1f}s")
