"""Correct loop: a tiny causal transformer LM on a synthetic grammar, reporting perplexity.

Perplexity (exp of the mean token cross-entropy) falls from about the vocabulary size towards
the entropy of the grammar; it is a loss-like metric with its own scale (it can be tens or
hundreds at the start and is never below 1).
"""

import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3)
mx.random.seed(3)
SUBJ = ["the cat", "a dog", "my friend", "the robot", "our teacher"]
VERB = ["sees", "likes", "builds", "paints", "finds"]
OBJ = ["a house", "the sea", "two birds", "red apples", "the moon"]
text = " . ".join(f"{random.choice(SUBJ)} {random.choice(VERB)} {random.choice(OBJ)}"
                  for _ in range(3000))
vocab = sorted(set(text))
ids = mx.array([vocab.index(c) for c in text])
V, CTX, D = len(vocab), 24, 32


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.attn = nn.MultiHeadAttention(D, 4)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(CTX, D)
        self.blocks = [Block(), Block()]
        self.ln = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def __call__(self, x):
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.tok(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.ln(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def get_batch(bs=16):
    starts = mx.random.randint(0, ids.shape[0] - CTX - 1, (bs,))
    idx = starts[:, None] + mx.arange(CTX + 1)[None, :]
    chunk = ids[idx]
    return chunk[:, :-1], chunk[:, 1:]


model = TinyGPT()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step = nn.value_and_grad(model, loss_fn)
print(f"vocab {V}, uniform ppl would be {V}")
for it in range(1, 161):
    x, y = get_batch()
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 10 == 0:
        print(f"iter {it:4d}  train ppl {math.exp(loss.item()):8.2f}", flush=True)
