"""Lava-tube skylight mapping on synthetic orbital tiles.

Per-pixel mask of collapse pits ("skylights") in 16x16 two-band tiles
(band 0: brightness, band 1: a coarse thermal-inertia proxy). Pits are dark
round holes that stay warm at night; elongated crater-wall shadows are dark
too but carry no thermal signal. About 2% of training mask pixels are flipped
to mimic hand-labelling noise, so the training loss flattens at a floor.

Loss: focal Tversky (alpha 0.7 on misses, beta 0.3 on false alarms, exponent
0.75) plus a small BCE term. AdamW, lr rises linearly from exactly 0, then
cosine decay. Each update averages gradients of two micro-batches. An
exponential moving average of the weights is kept and evaluated next to the
raw weights and two baselines (empty mask, dark-and-warm threshold rule).
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

H = W = 16
rng = np.random.default_rng(7)


def make_tiles(n, flip=0.0):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    imgs = np.zeros((n, H, W, 2), np.float32)
    masks = np.zeros((n, H, W, 1), np.float32)
    for i in range(n):
        base = 0.55 + 0.15 * np.sin(xx / rng.uniform(3, 6) + rng.uniform(0, 6)) * np.cos(
            yy / rng.uniform(3, 6)
        )
        thermal = 0.3 + 0.08 * rng.standard_normal((H, W))
        m = np.zeros((H, W), np.float32)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(2, H - 2, size=2)
            r = rng.uniform(1.2, 2.6)
            disk = ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r
            m[disk] = 1.0
            base = np.where(disk, base - 0.35, base)
            thermal = np.where(disk, thermal + 0.12, thermal)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(1, H - 1, size=2)
            ang = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
            v = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)
            shadow = (u / 4.0) ** 2 + (v / 0.9) ** 2 <= 1.0
            base = np.where(shadow, base - 0.3, base)
        base = base + 0.1 * rng.standard_normal((H, W))
        imgs[i, :, :, 0] = base
        imgs[i, :, :, 1] = thermal
        if flip > 0:
            f = rng.random((H, W)) < flip
            m = np.where(f, 1.0 - m, m)
        masks[i, :, :, 0] = m
    return imgs, masks


x_tr, y_tr = make_tiles(384, flip=0.02)
x_va, y_va = make_tiles(160)
mu = x_tr.mean(axis=(0, 1, 2), keepdims=True)
sd = x_tr.std(axis=(0, 1, 2), keepdims=True)
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd


class PitNet(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.stem = nn.Conv2d(2, c, 3, padding=1)
        self.wide = nn.Conv2d(c, c, 3, padding=2, dilation=2)
        self.mix = nn.Conv2d(c, c, 3, padding=1)
        self.head = nn.Conv2d(c, 1, 1)

    def __call__(self, x):
        h = nn.gelu(self.stem(x))
        h = h + nn.gelu(self.wide(h))
        h = nn.gelu(self.mix(h))
        return self.head(h)


def focal_tversky(logits, target, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0):
    p = mx.sigmoid(logits)
    tp = mx.sum(p * target, axis=(1, 2, 3))
    fn = mx.sum((1 - p) * target, axis=(1, 2, 3))
    fp = mx.sum(p * (1 - target), axis=(1, 2, 3))
    ti = (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)
    return mx.mean(mx.power(1 - ti, gamma))


def loss_fn(model, x, y):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")
    return focal_tversky(logits, y) + 0.3 * bce


def dice_iou(pred, target):
    pred = pred.astype(np.float32)
    inter = (pred * target).sum()
    dice = 2 * inter / (pred.sum() + target.sum() + 1e-9)
    iou = inter / (pred.sum() + target.sum() - inter + 1e-9)
    return dice, iou


def evaluate(model):
    logits = model(mx.array(x_va))
    pred = np.array(mx.sigmoid(logits)) > 0.5
    return dice_iou(pred, y_va)


mx.random.seed(3)
model = PitNet()
ema_model = PitNet()
mx.eval(model.parameters())
ema = tree_map(lambda a: mx.array(a), model.parameters())

epochs, micro, accum = 10, 12, 2
steps_per_epoch = len(x_tr) // (micro * accum)
total = epochs * steps_per_epoch
warm = 30
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"pits: train {len(x_tr)} tiles, val {len(x_va)} tiles, params {n_par}")
print(f"val positive-pixel share {y_va.mean():.3f}")

# baselines
print(f"baseline empty mask        : dice 0.000 iou 0.000")
raw_va = x_va * sd + mu
rule = (raw_va[..., 0:1] < 0.35) & (raw_va[..., 1:2] > 0.36)
d, i = dice_iou(rule, y_va)
print(f"baseline dark+warm rule    : dice {d:.3f} iou {i:.3f}")

t0 = time.time()
step = 0
for ep in range(epochs):
    perm = rng.permutation(len(x_tr))
    run = 0.0
    for s in range(steps_per_epoch):
        acc = None
        lsum = 0.0
        for a in range(accum):
            idx = perm[(s * accum + a) * micro:(s * accum + a + 1) * micro]
            l, g = vg(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
            acc = g if acc is None else tree_map(lambda u, v: u + v, acc, g)
            lsum += l
        acc = tree_map(lambda u: u / accum, acc)
        opt.update(model, acc)
        ema = tree_map(lambda e, p: 0.95 * e + 0.05 * p, ema, model.parameters())
        mx.eval(model.parameters(), opt.state, ema)
        run += (lsum / accum).item()
        step += 1
    ema_model.update(ema)
    d_raw, i_raw = evaluate(model)
    d_ema, i_ema = evaluate(ema_model)
    lr_now = lr_sched(mx.array(step)).item()
    print(
        f"epoch {ep + 1:2d} step {step:4d} lr {lr_now:.2e} train {run / steps_per_epoch:.4f} "
        f"| val dice raw {d_raw:.3f} ema {d_ema:.3f} | iou raw {i_raw:.3f} ema {i_ema:.3f}"
    )

print(f"done in {time.time() - t0:.1f}s, final ema dice {d_ema:.3f} (rule {d:.3f})")
