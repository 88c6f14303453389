# Tiny Swin-V2 style classifier: shifted-window cosine attention on 8x8 token grids.
import math, time
from typing import List, Optional
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def shifted_window_attention(
    input: mx.array,
    qkv_layer: nn.Module,
    proj_layer: nn.Module,
    relative_position_bias: mx.array,
    window_size: List[int],
    num_heads: int,
    shift_size: List[int],
    logit_scale: Optional[mx.array] = None,
) -> mx.array:
    B, H, W, C = input.shape
    x = input
    shift_size = list(shift_size)
    if sum(shift_size) > 0:
        x = mx.roll(x, shift=(-shift_size[0], -shift_size[1]), axis=(1, 2))
    nW = (H // window_size[0]) * (W // window_size[1])
    x = x.reshape(B, H // window_size[0], window_size[0], W // window_size[1], window_size[1], C)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(B * nW, window_size[0] * window_size[1], C)

    # multi-head attention
    if logit_scale is not None and hasattr(qkv_layer, 'bias'):
        qkv_layer.bias = qkv_layer.bias
        length = qkv_layer.bias.size // 3
        qkv_layer.bias[length: 2 * length] = 0

    qkv = qkv_layer(x)
    qkv = qkv.reshape(x.shape[0], x.shape[1], 3, num_heads, C // num_heads).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if logit_scale is not None:
        qn = q / (mx.linalg.norm(q, axis=-1, keepdims=True) + 1e-6)
        kn = k / (mx.linalg.norm(k, axis=-1, keepdims=True) + 1e-6)
        attn = qn @ kn.transpose(0, 1, 3, 2)
        attn = attn * mx.exp(mx.minimum(logit_scale, math.log(100.0)))
    else:
        attn = (q * (C // num_heads) ** -0.5) @ k.transpose(0, 1, 3, 2)
    attn = attn + relative_position_bias
    attn = mx.softmax(attn, axis=-1)
    x = (attn @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], C)

    x = proj_layer(x)
    x = x.reshape(B, H // window_size[0], W // window_size[1], window_size[0], window_size[1], C)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    if sum(shift_size) > 0:
        x = mx.roll(x, shift=(shift_size[0], shift_size[1]), axis=(1, 2))
    return x


class ShiftedWindowAttentionV2(nn.Module):
    def __init__(self, dim, window_size, shift_size, num_heads):
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = window_size, shift_size, num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = mx.log(10 * mx.ones((num_heads, 1, 1)))
        n = window_size[0] * window_size[1]
        self.rel_bias = mx.zeros((num_heads, n, n))

    def get_relative_position_bias(self):
        return 16 * mx.sigmoid(self.rel_bias)[None]

    def __call__(self, x):
        relative_position_bias = self.get_relative_position_bias()
        return shifted_window_attention(
            x,
            self.qkv,
            self.proj,
            relative_position_bias,
            self.window_size,
            self.num_heads,
            shift_size=self.shift_size,
            logit_scale=self.logit_scale,
        )


class Block(nn.Module):
    def __init__(self, dim, shift):
        super().__init__()
        self.attn = ShiftedWindowAttentionV2(dim, [4, 4], [shift, shift], 2)
        self.n1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.n2 = nn.LayerNorm(dim)

    def __call__(self, x):
        x = x + self.n1(self.attn(x))
        return x + self.n2(self.mlp(x))


class TinySwinV2(nn.Module):
    def __init__(self, in_ch=3, dim=16, classes=4):
        super().__init__()
        self.embed = nn.Linear(in_ch, dim)
        self.blocks = [Block(dim, 0), Block(dim, 2)]
        self.head = nn.Linear(dim, classes)

    def __call__(self, x):
        x = self.embed(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(axis=(1, 2)))


def make_data(n, rng):
    # 4 texture classes on an 8x8 grid: horizontal / vertical / diagonal stripes, checker
    y = rng.integers(0, 4, n)
    ii, jj = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    pats = [np.sin(ii * 1.6), np.sin(jj * 1.6), np.sin((ii + jj) * 1.1), ((ii + jj) % 2) * 2.0 - 1]
    x = np.stack([pats[c] for c in y])[..., None] * rng.uniform(0.5, 1.5, (n, 1, 1, 1))
    x = np.concatenate([x, rng.normal(0, 0.6, (n, 8, 8, 2))], -1) + rng.normal(0, 0.5, (n, 8, 8, 3))
    return mx.array(x.astype(np.float32)), mx.array(y)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    xtr, ytr = make_data(1024, rng)
    xte, yte = make_data(512, rng)
    model = TinySwinV2()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for epoch in range(5):
        perm = mx.array(rng.permutation(1024))
        tot = 0.0
        for i in range(0, 1024, 64):
            idx = perm[i:i + 64]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        acc = (model(xte).argmax(-1) == yte).mean().item()
        print(f"epoch {epoch} train_ce {tot / 16:.4f} test_acc {acc:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
