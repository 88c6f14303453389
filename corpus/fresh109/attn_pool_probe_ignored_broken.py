"""Tiny patch classifier with a SigLIP-style multihead attention pooling head.

Synthetic "images": 16 patches of 12 features; the class is set by which of
4 prototype patterns is hidden in a random patch position.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

DIM, HEADS, PATCHES, FEAT, CLASSES = 32, 4, 16, 12, 4


class MHA(nn.Module):
    def __init__(self, dims, num_heads, bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dims // num_heads) ** -0.5
        self.in_proj = nn.Linear(dims, dims * 3, bias=bias)
        self.out_proj = nn.Linear(dims, dims, bias=bias)

    def __call__(self, queries, keys, values, mask=None):
        B, L, D = queries.shape

        qkv = self.in_proj(keys)
        queries, keys, values = mx.split(qkv, 3, axis=-1)

        num_heads = self.num_heads
        B, L, D = queries.shape
        _, S, _ = keys.shape
        queries = queries.reshape(B, L, num_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, S, num_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, S, num_heads, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(queries, keys, values, scale=self.scale, mask=mask)
        out = out.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.out_proj(out)


class PoolingHead(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.probe = mx.ones((1, 1, dims))
        self.attention = MHA(dims, heads, bias=True)
        self.layernorm = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(), nn.Linear(2 * dims, dims))

    def __call__(self, hidden_state):
        probe = mx.repeat(self.probe, hidden_state.shape[0], axis=0)
        hidden_state = self.attention(probe, hidden_state, hidden_state)
        residual = hidden_state
        hidden_state = residual + self.mlp(self.layernorm(hidden_state))
        return hidden_state[:, 0]


class PatchClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(FEAT, DIM)
        self.pos = mx.random.normal((1, PATCHES, DIM)) * 0.02
        self.head = PoolingHead(DIM, HEADS)
        self.cls = nn.Linear(DIM, CLASSES)

    def __call__(self, x):
        return self.cls(self.head(self.embed(x) + self.pos))


def make_data(n, rng, protos):
    x = rng.normal(0, 1.0, size=(n, PATCHES, FEAT)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=n)
    where = rng.integers(0, PATCHES, size=n)
    x[np.arange(n), where] += 1.0 * protos[y]
    return x, y.astype(np.int32)


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    protos = rng.normal(size=(CLASSES, FEAT)).astype(np.float32)
    xtr, ytr = make_data(3072, rng, protos)
    xva, yva = make_data(512, rng, protos)

    model = PatchClassifier()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    bs = 64
    t0 = time.time()
    for epoch in range(12):
        perm = rng.permutation(len(xtr))
        losses = []
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        logits = model(mx.array(xva))
        acc = float(mx.mean(mx.argmax(logits, axis=1) == mx.array(yva)).item())
        print(json.dumps({"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4),
                          "val_acc": round(acc, 4), "elapsed_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
