"""Small Llama-style language model (RMSNorm, RoPE, SwiGLU) trained on a
synthetic arithmetic-sequence corpus.  Logs one JSON object per eval."""
import json
import logging
import sys
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
log = logging.getLogger("train")


@dataclass
class ModelArgs:
    block_size: int = 24
    vocab_size: int = 16
    n_layers: int = 3
    n_heads: int = 4
    dims: int = 64
    intermediate_size: int = 128
    norm_eps: float = 1e-5


class FeedForward(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.w1 = nn.Linear(a.dims, a.intermediate_size, bias=False)
        self.w2 = nn.Linear(a.intermediate_size, a.dims, bias=False)
        self.w3 = nn.Linear(a.dims, a.intermediate_size, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class Attention(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.n_heads = a.n_heads
        self.rope = nn.RoPE(a.dims // a.n_heads, traditional=True)
        self.wq = nn.Linear(a.dims, a.dims, bias=False)
        self.wk = nn.Linear(a.dims, a.dims, bias=False)
        self.wv = nn.Linear(a.dims, a.dims, bias=False)
        self.wo = nn.Linear(a.dims, a.dims, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q = self.wq(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.wk(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = self.wv(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        scale = (D // self.n_heads) ** -0.5
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        return self.wo(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class TransformerBlock(nn.Module):
    def __init__(self, a: ModelArgs):
        super().__init__()
        self.attention = Attention(a)
        self.feed_forward = FeedForward(a)
        self.attention_norm = nn.RMSNorm(a.dims, eps=a.norm_eps)
        self.ffn_norm = nn.RMSNorm(a.dims, eps=a.norm_eps)

    def __call__(self, x, mask):
        h = x + self.attention(self.attention_norm(x), mask)
        return h + self.feed_forward(self.ffn_norm(h))


class Llama(nn.Module):
    def __init__(self, config: ModelArgs):
        super().__init__()
        self.embedding = nn.Embedding(config.vocab_size, config.dims)
        self.attention = [TransformerBlock(config) for _ in range(config.n_layers)]
        self.norm = nn.RMSNorm(config.dims)
        self.out_proj = nn.Linear(config.dims, config.vocab_size, bias=False)

    def __call__(self, idx):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(idx.shape[1])
        x = self.embedding(idx)
        for encoding_layer in self.attention:
            x = encoding_layer(x, mask)
        x = self.norm(x)
        return self.out_proj(x)

    def loss(self, x, y):
        logits = self(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")


# corpus: sequences k, k+d, k+2d, ... (mod 16) with random start/step
rng = np.random.default_rng(3)


def get_batch(bs, L):
    start = rng.integers(0, 16, size=(bs, 1))
    step = rng.integers(1, 5, size=(bs, 1))
    seq = (start + step * np.arange(L + 1)[None]) % 16
    seq = np.where(rng.random(seq.shape) < 0.05, rng.integers(0, 16, seq.shape), seq)
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


config = ModelArgs()
model = Llama(config)
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: m.loss(x, y))

for it in range(1, 401):
    xb, yb = get_batch(16, config.block_size)
    loss, grads = loss_and_grad(model, xb, yb)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    if it % 50 == 0:
        vx, vy = get_batch(256, config.block_size)
        val = model.loss(vx, vy).item()
        log.info(json.dumps({"iter": it, "train_loss": round(loss.item(), 4),
                             "val_loss": round(val, 4)}))
