"""Tiny rotary-attention transformer trained on a relative-position task.

Task: for every position t >= LAG the target is the token seen LAG steps earlier
(a pure relative-position lookup, which rotary attention solves independently of
absolute position).  Rotary tables are precomputed once for MAX_LEN positions.
After training we check the run: accuracy at the trained positions, accuracy when
the same sequences are placed at a position offset (KV-cache style), and the
rotary tables themselves.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, D, HEADS, SEQ, MAX_LEN, LAG = 16, 32, 2, 24, 64, 3
HD = D // HEADS
rng = np.random.default_rng(0)


def rms(x):
    return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + 1e-6)


def apply_rotary(x, cos, sin):
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return mx.concatenate([x1 * cos + x2 * sin, -x1 * sin + x2 * cos], axis=-1)


class TinyRoPEGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D)
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.proj = nn.Linear(D, D, bias=False)
        self.fc1 = nn.Linear(D, 4 * D)
        self.fc2 = nn.Linear(4 * D, D)
        self.head = nn.Linear(D, VOCAB)
        cos, sin = self._rotary(MAX_LEN)
        self.cos = cos
        self.sin = sin
        # rotary tables are constants, not trainable parameters
        self.freeze(keys=["cos", "sin"])

    @staticmethod
    def _rotary(n, base=10000.0):
        inv = 1.0 / (base ** (mx.arange(0, HD, 2).astype(mx.float32) / HD))
        freqs = mx.arange(n).astype(mx.float32)[:, None] * inv[None, :]
        # shape (1, n, 1, HD/2) so it broadcasts over batch and heads
        return mx.cos(freqs)[None, :, None, :], mx.sin(freqs)[None, :, None, :]

    def __call__(self, idx, offset=0):
        B, T = idx.shape
        x = self.wte(idx)
        q, k, v = mx.split(self.qkv(rms(x)), 3, axis=-1)
        q, k, v = (a.reshape(B, T, HEADS, HD) for a in (q, k, v))
        cos, sin = self.cos[:, offset: offset + T], self.sin[:, offset: offset + T]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        q, k, v = (a.transpose(0, 2, 1, 3) for a in (q, k, v))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        att = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(HD), mask=mask)
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, T, D))
        x = x + self.fc2(nn.gelu(self.fc1(rms(x))))
        return self.head(rms(x))


def batch(n):
    x = rng.integers(0, VOCAB, (n, SEQ))
    y = np.full_like(x, -1)
    y[:, LAG:] = x[:, :-LAG]
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y, offset=0):
    logits = model(x, offset)
    valid = (y >= 0)
    ce = nn.losses.cross_entropy(logits, mx.maximum(y, 0), reduction="none")
    return mx.sum(ce * valid) / mx.sum(valid)


def accuracy(model, x, y, offset=0):
    pred = mx.argmax(model(x, offset), axis=-1)
    valid = y >= 0
    return (mx.sum((pred == y) & valid) / mx.sum(valid)).item()


def main():
    mx.random.seed(0)
    model = TinyRoPEGPT()
    mx.eval(model.parameters())
    cos0 = np.array(model.cos).copy()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"model: {n_train} trainable parameters, rotary cache {MAX_LEN} positions, task: copy token t-{LAG}")

    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.05)
    vg = nn.value_and_grad(model, loss_fn)
    xv, yv = batch(512)
    steps, t0 = 450, time.time()
    for step in range(1, steps + 1):
        x, y = batch(64)
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step == 1 or step % 75 == 0:
            print(f"[{step:4d}/{steps}] loss={loss.item():.4f} val_acc={accuracy(model, xv, yv):.3f} ({time.time()-t0:.1f}s)")

    acc_native = accuracy(model, xv, yv)
    acc_shift = accuracy(model, xv, yv, offset=SEQ)
    cos, sin = np.array(model.cos), np.array(model.sin)
    unit = float(np.abs(cos ** 2 + sin ** 2 - 1.0).max())
    drift = float(np.abs(cos - cos0).max())
    print("--- checks ---")
    print(f"val accuracy, positions 0..{SEQ-1}:        {acc_native:.3f}")
    print(f"val accuracy, positions {SEQ}..{2*SEQ-1} (offset): {acc_shift:.3f}  (relative task: should match)")
    print(f"rotary tables: max|cos^2+sin^2-1| = {unit:.4f}, max|cos-cos_init| = {drift:.4f}  (should both be 0)")


if __name__ == "__main__":
    main()
