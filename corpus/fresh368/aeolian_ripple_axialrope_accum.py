"""Aerial survey tiles of wind ripples: which way do the crests run (0/45/90/135 deg)?

Tiny vision transformer on 16x16 greyscale tiles, 4x4 patches, no learned position
table: 2-D axial rotary phases (row half / column half of each head) on queries and keys.
SGD with Nesterov momentum, warm-up from lr 0, then step decay; two micro-batches are
averaged before every optimizer update. Label smoothing 0.1 keeps the loss above ~0.35.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

IMG, PATCH, N_CLS = 16, 4, 4
ANGLES = np.deg2rad(np.array([0.0, 45.0, 90.0, 135.0]))


def make_tiles(n):
    ys, xs = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    labels = rng.integers(0, N_CLS, size=n)
    theta = ANGLES[labels] + rng.normal(0, np.deg2rad(12), size=n)
    wavelength = rng.uniform(3.0, 5.5, size=n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    contrast = rng.uniform(0.5, 1.3, size=n)
    proj = xs[None] * np.cos(theta)[:, None, None] + ys[None] * np.sin(theta)[:, None, None]
    img = contrast[:, None, None] * np.sin(2 * np.pi * proj / wavelength[:, None, None] + phase[:, None, None])
    img += rng.normal(0, 1.1, size=img.shape)
    img += rng.uniform(-0.3, 0.3, size=(n, 1, 1))  # sand albedo
    return img[..., None].astype(np.float32), labels.astype(np.int32)


x_train, y_train = make_tiles(1600)
x_test, y_test = make_tiles(500)
x_train, y_train = mx.array(x_train), mx.array(y_train)
x_test, y_test = mx.array(x_test), mx.array(y_test)


def axial_tables(grid, head_dim, base=10.0):
    quarter = head_dim // 4  # rotated pairs per axis
    inv = 1.0 / (base ** (np.arange(quarter) / quarter))
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    ang = np.concatenate([rows[:, None] * inv[None], cols[:, None] * inv[None]], axis=1)
    return mx.array(np.cos(ang).astype(np.float32)), mx.array(np.sin(ang).astype(np.float32))


def rotate(t, cos, sin):
    # t: (B, H, L, D); pairs are (first half, second half) of D
    half = t.shape[-1] // 2
    a, b = t[..., :half], t[..., half:]
    return mx.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


class AxialAttention(nn.Module):
    def __init__(self, dim, heads, grid):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self._cos, self._sin = axial_tables(grid, dim // heads)

    def __call__(self, x):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = rotate(q, self._cos, self._sin), rotate(k, self._cos, self._sin)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(q.shape[-1]))
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim, heads, grid):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = AxialAttention(dim, heads, grid)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.mlp(self.n2(x))


class RippleViT(nn.Module):
    def __init__(self, dim=48, heads=4, depth=2):
        super().__init__()
        grid = IMG // PATCH
        self.embed = nn.Linear(PATCH * PATCH, dim)
        self.blocks = [Block(dim, heads, grid) for _ in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_CLS)

    def __call__(self, img):
        B = img.shape[0]
        g = IMG // PATCH
        p = img.reshape(B, g, PATCH, g, PATCH).transpose(0, 1, 3, 2, 4).reshape(B, g * g, PATCH * PATCH)
        x = self.embed(p)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x.mean(axis=1)))


model = RippleViT()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"params: {n_params}")

WARM, PEAK = 20, 0.05
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.step_decay(PEAK, 0.5, 45)], [WARM]
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, label_smoothing=0.1, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


counts = np.bincount(np.array(y_test), minlength=N_CLS)
majority = counts.max() / counts.sum()
print(f"baselines on test: chance {1 / N_CLS:.3f}, majority class {majority:.3f}")

MICRO, ACCUM, EPOCHS = 32, 2, 5
per_update = MICRO * ACCUM
t0 = time.time()
update = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(x_train.shape[0]))
    run = []
    for s in range(0, x_train.shape[0] - per_update + 1, per_update):
        acc_grads, acc_loss = None, 0.0
        for j in range(ACCUM):
            idx = perm[s + j * MICRO : s + (j + 1) * MICRO]
            loss, grads = grad_fn(model, x_train[idx], y_train[idx])
            acc_grads = grads if acc_grads is None else tree_map(lambda a, b: a + b, acc_grads, grads)
            acc_loss += loss
        acc_grads = tree_map(lambda g: g / ACCUM, acc_grads)
        lr_now = opt.learning_rate.item()
        opt.update(model, acc_grads)
        mx.eval(model.parameters(), opt.state)
        update += 1
        l = (acc_loss / ACCUM).item()
        run.append(l)
        if update % 10 == 0:
            print(f"update {update:4d}  lr {lr_now:.4f}  loss {l:.4f}")
    test_acc = accuracy(x_test, y_test)
    print(
        f"epoch {epoch}  train_loss {np.mean(run):.4f}  test_acc {test_acc:.3f}"
        f"  (majority {majority:.3f})  {time.time() - t0:.1f}s"
    )

final = accuracy(x_test, y_test)
print(f"final test accuracy {final:.3f} after {update} updates")
