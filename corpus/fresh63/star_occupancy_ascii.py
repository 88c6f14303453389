"""Occupancy field of a five-pointed star.

Random points in [-1.2, 1.2]^2 are labelled inside/outside a 5-pointed star
polygon (even-odd test).  Inputs go through a fixed Gaussian Fourier-feature
encoding (a numpy constant, not a parameter), then a ReLU MLP gives a logit.
BCE with logits, optim.SGD(momentum=0.9) with a hand-written step decay set
on opt.learning_rate, fresh points every step.  Every 200 steps a bracketed
progress line with held-out IoU; at the end an ASCII rendering of the field.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)

ang = np.arange(10) * math.pi / 5 + math.pi / 2
rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
STAR = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)


def inside(p):
    x, y = p[:, 0:1], p[:, 1:2]
    x1, y1 = STAR[:, 0], STAR[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    cond = (y1 > y) != (y2 > y)
    xint = x1 + (y - y1) * (x2 - x1) / (y2 - y1 + 1e-12)
    return ((cond & (x < xint)).sum(1) % 2).astype(np.float32)


B = (rng.standard_normal((2, 48)) * 2.5).astype(np.float32)


def encode(p):
    z = 2 * math.pi * (p @ B)
    return np.concatenate([np.sin(z), np.cos(z), p], 1).astype(np.float32)


net = nn.Sequential(nn.Linear(98, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 1))
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x).squeeze(-1), y, with_logits=True)


vg = nn.value_and_grad(net, bce)

pts_te = rng.uniform(-1.2, 1.2, (4000, 2)).astype(np.float32)
Xte, Yte = mx.array(encode(pts_te)), inside(pts_te)


def iou():
    pred = np.array(net(Xte).squeeze(-1) > 0)
    gt = Yte > 0.5
    return (pred & gt).sum() / max((pred | gt).sum(), 1)


def batch(n=256):
    p = rng.uniform(-1.2, 1.2, (n, 2)).astype(np.float32)
    return mx.array(encode(p)), mx.array(inside(p))


x0, y0 = batch()
_, g = vg(net, x0, y0)
dead = [k for k, v in tree_flatten(g) if not bool(mx.any(v != 0))]
print(f"[init] params={sum(v.size for _, v in tree_flatten(net.parameters()))} "
      f"zero-grad leaves={len(dead)} star area share={Yte.mean():.3f}")

TOTAL = 1600
t0 = time.time()
run = None
for step in range(1, TOTAL + 1):
    opt.learning_rate = 0.05 * (0.3 ** (step // 600))
    x, y = batch()
    loss, g = vg(net, x, y)
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss)
    run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
    if step % 200 == 0:
        print(f"[{step:4d}/{TOTAL}] lr={opt.learning_rate.item():.4f} bce~{run:.4f} "
              f"iou={iou():.4f} t={time.time() - t0:.1f}s")

H, W = 21, 43
ys = np.linspace(1.1, -1.1, H)
xs = np.linspace(-1.1, 1.1, W)
grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)
pred = np.array(net(mx.array(encode(grid))).squeeze(-1) > 0).reshape(H, W)
truth = inside(grid).reshape(H, W) > 0.5
print("[render] '#' agree-inside  '.' agree-outside  '+' false-inside  '-' missed")
for r in range(H):
    row = ""
    for c in range(W):
        p, t = pred[r, c], truth[r, c]
        row += "#" if p and t else "." if not p and not t else "+" if p else "-"
    print("  " + row)
print(f"[done] final held-out IoU={iou():.4f}")
