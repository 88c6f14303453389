# Tiny char-level GPT on a stdlib text, hand-rolled LayerNorm (nanoGPT style).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TEXT = (
    "To be, or not to be, that is the question: Whether 'tis nobler in the mind "
    "to suffer the slings and arrows of outrageous fortune, or to take arms "
    "against a sea of troubles and by opposing end them. "
) * 20

chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int32)

VOCAB = len(chars)
BLOCK = 32
N_EMBD = 48
N_HEAD = 4
N_LAYER = 2
BIAS = True
BATCH = 16


class LayerNorm(nn.Module):
    def __init__(self, dims: int, eps: float = 1e-5, affine: bool = True, bias: bool = False):
        super().__init__()
        self.use_bias = bias
        if affine:
            if bias:
                self.bias = mx.zeros((dims,))
            self.weight = mx.ones((dims,))
        self.eps = eps
        self.dims = dims

    def __call__(self, x):
        means = mx.mean(x, axis=-1, keepdims=True)
        var = mx.var(x, axis=-1, keepdims=True)
        x = (x - means) * mx.rsqrt(var + self.eps)
        out = (self.weight * x) if "weight" in self else x
        return out + self.bias if self.use_bias else out


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = LayerNorm(N_EMBD, bias=BIAS)
        self.attn = nn.MultiHeadAttention(N_EMBD, N_HEAD, bias=BIAS)
        self.ln_2 = LayerNorm(N_EMBD, bias=BIAS)
        self.fc = nn.Linear(N_EMBD, 4 * N_EMBD, bias=BIAS)
        self.proj = nn.Linear(4 * N_EMBD, N_EMBD, bias=BIAS)

    def __call__(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, mask=mask)
        x = x + self.proj(nn.gelu(self.fc(self.ln_2(x))))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, N_EMBD)
        self.wpe = nn.Embedding(BLOCK, N_EMBD)
        self.blocks = [Block() for _ in range(N_LAYER)]
        self.ln_f = LayerNorm(N_EMBD, bias=BIAS)
        self.head = nn.Linear(N_EMBD, VOCAB, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


def get_batch(rng):
    ix = rng.integers(0, len(data) - BLOCK - 1, size=BATCH)
    x = np.stack([data[i:i + BLOCK] for i in ix])
    y = np.stack([data[i + 1:i + 1 + BLOCK] for i in ix])
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="mean")


def main():
    mx.random.seed(1337)
    rng = np.random.default_rng(1337)
    model = GPT()
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=3e-3, betas=[0.9, 0.95], weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    max_iters = 150
    tic = time.perf_counter()
    for it in range(max_iters + 1):
        x, y = get_batch(rng)
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 25 == 0:
            toc = time.perf_counter()
            print(f"iter {it}: train loss {loss.item():.3f}, time {toc - tic:.2f}s")
    print(f"final loss {loss.item():.3f} (uniform would be {math.log(VOCAB):.3f})")


if __name__ == "__main__":
    main()
