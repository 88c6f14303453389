"""Tiny decoder-only transformer LM on sequences from a sparse Markov chain.

Teacher-forced training on full sequences; the step-by-step (prefix only)
evaluation is what generation would see.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB, SEQ, D, HEADS, LAYERS = 16, 24, 48, 4, 2
np.random.seed(0)
mx.random.seed(0)

# sparse transition matrix: each token has 3 likely successors
T = np.full((VOCAB, VOCAB), 0.01)
for a in range(VOCAB):
    for b, w in zip(np.random.choice(VOCAB, 3, replace=False), (0.6, 0.25, 0.12)):
        T[a, b] = w
T /= T.sum(1, keepdims=True)
stat = np.ones(VOCAB) / VOCAB
for _ in range(200):
    stat = stat @ T
TRUE_H = float(-(stat[:, None] * T * np.log(T)).sum())


def sample(n):
    x = np.zeros((n, SEQ + 1), dtype=np.int32)
    x[:, 0] = np.random.randint(VOCAB, size=n)
    cum = T.cumsum(1)
    for t in range(SEQ):
        u = np.random.rand(n, 1)
        x[:, t + 1] = (u > cum[x[:, t]]).sum(1).clip(0, VOCAB - 1)
    return mx.array(x)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.out = nn.Linear(D, D, bias=False)
        self.rope = nn.RoPE(D // HEADS)

    def __call__(self, x, mask=None):
        b, t, _ = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (a.reshape(b, t, HEADS, -1).transpose(0, 2, 1, 3) for a in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // HEADS) ** -0.5, mask=mask)
        return self.out(y.transpose(0, 2, 1, 3).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.attn = Attention()
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask=None):
        x = x + self.attn(self.n1(x), mask=mask)
        return x + self.mlp(self.n2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, VOCAB)

    def __call__(self, tokens):
        x = self.emb(tokens)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        for blk in self.blocks:
            x = blk(x, mask=mask)
        return self.head(self.norm(x))


def loss_fn(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def prefix_eval(model, batch):
    """Predict each next token from its prefix only (what sampling sees)."""
    losses = []
    for t in range(1, SEQ + 1):
        logits = model(batch[:, :t])[:, -1]
        losses.append(nn.losses.cross_entropy(logits, batch[:, t], reduction="mean"))
    return mx.mean(mx.stack(losses)).item()


model = TinyLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)
val = sample(256)

print(f"reference: uniform CE {math.log(VOCAB):.3f}, true chain entropy {TRUE_H:.3f} nats")
print("step | train_ce | teacher-forced val_ce | prefix val_ce | s")
t0 = time.time()
for step in range(1, 301):
    batch = sample(32)
    loss, grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % 60 == 0:
        tf_val = loss_fn(model, val).item()
        pf_val = prefix_eval(model, val[:32])
        print(f"{step:4d} | {loss.item():8.4f} | {tf_val:21.4f} | {pf_val:13.4f} | {time.time()-t0:4.1f}")

pf = prefix_eval(model, val[:128])
tf = loss_fn(model, val).item()
print(f"final: teacher-forced val CE {tf:.4f}, prefix (generation-time) val CE {pf:.4f}, "
      f"gap {pf - tf:+.4f}; chain entropy {TRUE_H:.3f}")
