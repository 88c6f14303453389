# Tiny packed-patch vision encoder (Qwen2-VL style): several "images" are packed
# into one patch sequence, delimited by cu_seqlens; each patch must regress the
# mean brightness of its own image.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

DIM, HEADS, PATCHES, IMAGES = 32, 4, 6, 8
SEQ = PATCHES * IMAGES


def rope_vision(x, pos):
    # x: (1, S, H, D); pos: (S,) position of the patch inside its own image
    d = x.shape[-1] // 2
    inv = 1.0 / (10000 ** (mx.arange(d).astype(mx.float32) / d))
    ang = pos[:, None].astype(mx.float32) * inv[None, :]
    cos, sin = mx.cos(ang)[None, :, None, :], mx.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :d], x[..., d:]
    return mx.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def __call__(self, x, cu_seqlens, pos):
        seq_length = x.shape[0]
        qkv = self.qkv(x).reshape(seq_length, 3, self.num_heads, -1).transpose(1, 0, 2, 3)
        q, k, v = mx.split(qkv, 3)
        q = rope_vision(q, pos)
        k = rope_vision(k, pos)
        attention_mask = mx.ones((1, seq_length, seq_length), dtype=x.dtype)

        for i in range(1, len(cu_seqlens)):
            start = int(cu_seqlens[i - 1])
            end = int(cu_seqlens[i])
            attention_mask[start:end, start:end] = 0

        q = q.transpose(0, 2, 1, 3)
        k = k.transpose(0, 2, 1, 3)
        v = v.transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=attention_mask)
        out = out.transpose(0, 2, 1, 3).reshape(seq_length, -1)
        return self.proj(out)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, DIM)
        self.norm1 = nn.LayerNorm(DIM)
        self.attn = Attention(DIM, HEADS)
        self.norm2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.head = nn.Linear(DIM, 1)

    def __call__(self, x, cu_seqlens, pos):
        h = self.embed(x)
        h = h + self.attn(self.norm1(h), cu_seqlens, pos)
        h = h + self.mlp(self.norm2(h))
        return self.head(h).squeeze(-1)


def make_pack():
    # every image: 6 patches of 4 features; image brightness b ~ U(-1, 1)
    b = mx.random.uniform(-1, 1, (IMAGES, 1))
    feats = mx.random.normal((IMAGES, PATCHES, 4)) * 0.5
    feats = feats + mx.concatenate([b[:, :, None] * mx.ones((IMAGES, PATCHES, 1)),
                                    mx.zeros((IMAGES, PATCHES, 3))], axis=-1)
    target = mx.repeat(feats[:, :, 0].mean(axis=1, keepdims=True), PATCHES, axis=1)
    return feats.reshape(SEQ, 4), target.reshape(SEQ)


cu_seqlens = mx.array([i * PATCHES for i in range(IMAGES + 1)])
pos = mx.tile(mx.arange(PATCHES), IMAGES)

model = Encoder()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)


def loss_fn(m, x, y):
    return mx.mean((m(x, cu_seqlens, pos) - y) ** 2)


step = nn.value_and_grad(model, loss_fn)
val = [make_pack() for _ in range(16)]
var_y = mx.mean(mx.concatenate([y for _, y in val]) ** 2).item()

t0 = time.time()
for it in range(1, 601):
    x, y = make_pack()
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        vl = sum(loss_fn(model, vx, vy).item() for vx, vy in val) / len(val)
        print(f"step {it:4d} | train mse {loss.item():.4f} | val mse {vl:.4f} | R2 {1 - vl / var_y:+.3f}")
print(f"done in {time.time() - t0:.1f}s; target variance {var_y:.4f}")
