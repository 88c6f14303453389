# Tiny decoder-only LM on synthetic "tram timetable" strides: each sequence is
# start, start+k, start+2k, ... (mod 20), so the next token is predictable from context.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, SEQ, DIM, HEADS, LAYERS = 20, 12, 48, 4, 2
mx.random.seed(3)


def make_batch(n):
    start = mx.random.randint(0, VOCAB, (n, 1))
    stride = mx.random.randint(1, 6, (n, 1))
    seq = (start + stride * mx.arange(SEQ + 1)[None]) % VOCAB
    return seq[:, :-1], seq[:, 1:]


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dims, 3 * dims, bias=False)
        self.out = nn.Linear(dims, dims, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(q.shape[-1])
        scores = scores + mask
        w = mx.softmax(scores, axis=-1)
        return self.out((w @ v).transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = Attention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    @staticmethod
    def create_additive_causal_mask(N: int, offset: int = 0):
        rinds = mx.arange(offset + N)
        linds = mx.arange(offset, offset + N) if offset else rinds
        mask = linds[:, None] < rinds[None]
        return mask * -1e9

    def __call__(self, x):
        L = x.shape[1]
        mask = self.create_additive_causal_mask(L)
        h = self.tok(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TinyLM()
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())

xv, yv = make_batch(256)
t0 = time.perf_counter()
for it in range(1, 121):
    x, y = make_batch(32)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 20 == 0:
        logits = model(xv)
        acc = (mx.argmax(logits[:, 2:], axis=-1) == yv[:, 2:]).mean().item()
        vl = loss_fn(model, xv, yv).item()
        print(f"it {it:4d} | train {loss.item():.4f} | val {vl:.4f} | next-tok acc (pos>=2) {100*acc:5.1f}% | {time.perf_counter()-t0:5.1f}s")
print("done")
