"""Petrography tiles: equigranular / porphyritic / foliated rock fabric from 16x16 thin-section crops.

Tiny ViT: Conv2d 4x4 stride-4 patch embedding on NHWC input, class token, learned position
table, 2 pre-norm blocks (nn.MultiHeadAttention) with per-sample drop-path. Adafactor with a
hand-set learning rate schedule: cosine with warm restarts (3 cycles). 8% of the training labels
are swapped on purpose (lab logging slips), so the training loss cannot go to zero. An EMA
copy of the weights is scored next to the raw weights. The first cycle runs quietly.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
IMG, N_CLS = 16, 3
NAMES = ["equigranular", "porphyritic", "foliated"]


def blobs(n_blobs, sigma_lo, sigma_hi):
    ys, xs = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    out = np.zeros((IMG, IMG), np.float32)
    for _ in range(n_blobs):
        cy, cx = rng.uniform(0, IMG, 2)
        s = rng.uniform(sigma_lo, sigma_hi)
        out += rng.uniform(0.6, 1.0) * np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * s * s))
    return out


def make_tiles(n):
    ys, xs = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    y = rng.integers(0, N_CLS, size=n)
    x = np.zeros((n, IMG, IMG), np.float32)
    for i, c in enumerate(y):
        if c == 0:
            img = blobs(14, 0.9, 1.4)
        elif c == 1:
            img = 0.35 * blobs(10, 0.7, 1.0) + 1.2 * blobs(2, 2.2, 3.0)
        else:
            a = rng.uniform(0, np.pi)
            proj = -xs * np.sin(a) + ys * np.cos(a)
            img = 0.6 + 0.5 * np.sin(2 * np.pi * proj / rng.uniform(2.5, 4.0) + rng.uniform(0, 6.3))
            img *= 0.6 + 0.4 * blobs(4, 1.5, 2.5)
        x[i] = img * rng.uniform(0.7, 1.3) + rng.normal(0, 0.3, (IMG, IMG))
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-5)
    return x[..., None], y.astype(np.int32)


x_tr, y_tr = make_tiles(1500)
x_te, y_te = make_tiles(450)
slip = rng.random(len(y_tr)) < 0.08
y_tr[slip] = (y_tr[slip] + rng.integers(1, N_CLS, slip.sum())) % N_CLS
x_tr, y_tr, x_te, y_te = map(mx.array, (x_tr, y_tr, x_te, y_te))


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def __call__(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = mx.random.bernoulli(1.0 - self.p, (x.shape[0], 1, 1)).astype(x.dtype)
        return x * keep / (1.0 - self.p)


class Block(nn.Module):
    def __init__(self, dim, heads, dp):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.dp = DropPath(dp)

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.dp(self.attn(h, h, h))
        return x + self.dp(self.mlp(self.n2(x)))


class FabricViT(nn.Module):
    def __init__(self, dim=40, heads=4, depth=2):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, kernel_size=4, stride=4)
        self.cls_token = mx.zeros((1, 1, dim))
        self.pos = 0.02 * mx.random.normal((1, 17, dim))
        self.blocks = [Block(dim, heads, dp=0.1 * (i + 1)) for i in range(depth)]
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, N_CLS)

    def __call__(self, img):
        B = img.shape[0]
        t = self.patch(img).reshape(B, -1, self.cls_token.shape[-1])
        t = mx.concatenate([mx.broadcast_to(self.cls_token, (B, 1, t.shape[-1])), t], axis=1) + self.pos
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.norm(t[:, 0]))


model = FabricViT()
mx.eval(model.parameters())
print(f"params: {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")

BATCH, CYCLE, CYCLES = 50, 60, 3
cycle_sched = [optim.cosine_decay(3e-3, CYCLE, end=1e-5) for _ in range(CYCLES)]
schedule = optim.join_schedules(cycle_sched, [CYCLE * k for k in range(1, CYCLES)])
opt = optim.Adafactor(learning_rate=schedule, relative_step=False, scale_parameter=False, beta_1=0.9)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)
ema = tree_map(lambda p: mx.array(p), model.parameters())


def score(params=None):
    saved = None
    if params is not None:
        saved = tree_map(lambda p: p, model.parameters())
        model.update(params)
    model.eval()
    logits = model(x_te)
    acc = (mx.argmax(logits, 1) == y_te).astype(mx.float32).mean().item()
    loss = nn.losses.cross_entropy(logits, y_te, reduction="mean").item()
    model.train()
    if saved is not None:
        model.update(saved)
    return loss, acc


print(f"chance accuracy {1 / N_CLS:.3f}; train labels swapped: {int(slip.sum())}/{len(slip)}")
t0 = time.time()
step = 0
model.train()
while step < CYCLE * CYCLES:
    perm = mx.array(rng.permutation(x_tr.shape[0]))
    for s in range(0, x_tr.shape[0] - BATCH + 1, BATCH):
        idx = perm[s : s + BATCH]
        lr_now = opt.learning_rate.item()
        loss, grads = grad_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        ema = tree_map(lambda e, p: 0.95 * e + 0.05 * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema, loss)
        step += 1
        cycle = (step - 1) // CYCLE + 1
        if cycle > 1 and step % 15 == 0:
            print(f"cycle {cycle} step {step:3d}  lr {lr_now:.2e}  batch_loss {loss.item():.4f}")
        if step % CYCLE == 0:
            raw_l, raw_a = score()
            ema_l, ema_a = score(ema)
            print(
                f"== end of cycle {cycle} (step {step}, {time.time() - t0:.1f}s): "
                f"test raw loss {raw_l:.4f} acc {raw_a:.3f} | ema loss {ema_l:.4f} acc {ema_a:.3f}"
            )
        if step >= CYCLE * CYCLES:
            break

raw_l, raw_a = score()
ema_l, ema_a = score(ema)
print(f"final: raw acc {raw_a:.3f}, ema acc {ema_a:.3f}, chance {1 / N_CLS:.3f}")
