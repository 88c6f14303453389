#!/usr/bin/env python
"""Tiny llama-style LM trained in bfloat16 on synthetic 'counting' sequences.

sequences are arithmetic progressions mod 20 with a random start and a random
stride from {1, 2, 3, 5}; after the first two tokens the rest is predictable.
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, SEQ, DIM, HEADS, LAYERS = 20, 32, 64, 4, 2
DTYPE = mx.bfloat16
mx.random.seed(7)


def create_additive_causal_mask(N: int, offset: int = 0, dtype: mx.Dtype = mx.float32):
    rinds = mx.arange(offset + N)
    linds = mx.arange(offset, offset + N) if offset else rinds
    mask = linds[:, None] < rinds[None]
    mask = mask.astype(dtype) * mx.finfo(dtype).min
    return mask


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_heads = HEADS
        self.scale = (DIM // HEADS) ** -0.5
        self.q_proj = nn.Linear(DIM, DIM, bias=False)
        self.k_proj = nn.Linear(DIM, DIM, bias=False)
        self.v_proj = nn.Linear(DIM, DIM, bias=False)
        self.o_proj = nn.Linear(DIM, DIM, bias=False)
        self.rope = nn.RoPE(DIM // HEADS)

    def __call__(self, x, mask=None):
        B, L, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        q = q.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, -1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(DIM, 2 * DIM, bias=False)
        self.up = nn.Linear(DIM, 2 * DIM, bias=False)
        self.down = nn.Linear(2 * DIM, DIM, bias=False)

    def __call__(self, x):
        return self.down(nn.silu(self.gate(x)) * self.up(x))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = nn.RMSNorm(DIM)
        self.attn = Attention()
        self.mlp_norm = nn.RMSNorm(DIM)
        self.mlp = MLP()

    def __call__(self, x, mask):
        x = x + self.attn(self.attn_norm(x), mask)
        return x + self.mlp(self.mlp_norm(x))


class TinyLlama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Layer() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.out = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        h = self.embed(tokens)
        mask = None
        if h.shape[1] > 1:
            mask = create_additive_causal_mask(h.shape[1], dtype=h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.out(self.norm(h))


def batch(bs=32):
    start = mx.random.randint(0, VOCAB, (bs, 1))
    stride = mx.array([1, 2, 3, 5])[mx.random.randint(0, 4, (bs, 1))]
    seq = (start + stride * mx.arange(SEQ + 1)[None]) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def main():
    model = TinyLlama()
    model.set_dtype(DTYPE)
    opt = optim.Adam(learning_rate=2e-3)
    step = nn.value_and_grad(model, loss_fn)
    print(f"# dtype={DTYPE} chance={math.log(VOCAB):.3f}")
    print("# iter  loss     tok/s")
    t0 = time.time()
    for it in range(1, 131):
        x, y = batch()
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 10 == 0:
            dt = time.time() - t0
            sys.stdout.write(f"{it:6d}  {loss.item():.4f}  {it * x.size / dt:8.0f}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
