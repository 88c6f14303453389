"""Tiny ViT that sorts 16x16 infrared satellite tiles into
clear sky / fresh linear contrail / natural cirrus.

Stage "easy": bright, wide streaks, little noise.
Stage "hard": faint, thin streaks and heavy sensor noise (the loss goes up
when it starts, on purpose).  The learning rate warms up from exactly 0 in
each stage, and the step counter restarts per stage.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

IMG, PATCH, DIM, HEADS, DEPTH, NCLS = 16, 4, 32, 4, 1, 3
rng = np.random.default_rng(7)


def make_tiles(n, contrast, width, noise):
    yy, xx = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    x = np.zeros((n, IMG, IMG, 1), np.float32)
    y = rng.integers(0, NCLS, size=n)
    for i in range(n):
        base = rng.normal(0.0, 0.15) + 0.2 * np.sin(xx / rng.uniform(4, 9) + rng.uniform(0, 6))
        img = base
        if y[i] == 1:  # straight, narrow, long contrail
            th = rng.uniform(0, math.pi)
            c = rng.uniform(4, 12)
            d = np.abs((xx - c) * math.sin(th) - (yy - c) * math.cos(th))
            img = img + contrast * np.exp(-(d / width) ** 2)
        elif y[i] == 2:  # diffuse cirrus blob
            cx, cy = rng.uniform(3, 13, size=2)
            r2 = (xx - cx) ** 2 + (yy - cy) ** 2
            img = img + 0.8 * contrast * np.exp(-r2 / rng.uniform(6, 14))
        x[i, :, :, 0] = img + rng.normal(0, noise, size=(IMG, IMG))
    return mx.array(x), mx.array(y.astype(np.int32))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = nn.LayerNorm(DIM)
        self.att = nn.MultiHeadAttention(DIM, HEADS)
        self.n2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, h):
        z = self.n1(h)
        h = h + self.att(z, z, z)
        return h + self.mlp(self.n2(h))


class TileViT(nn.Module):
    def __init__(self):
        super().__init__()
        n_tok = (IMG // PATCH) ** 2
        self.patch = nn.Conv2d(1, DIM, kernel_size=PATCH, stride=PATCH)
        self.cls_tok = mx.random.normal((1, 1, DIM)) * 0.02
        self.pos = mx.random.normal((1, n_tok + 1, DIM)) * 0.02
        self.blocks = [Block() for _ in range(DEPTH)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, NCLS)

    def __call__(self, x):
        p = self.patch(x)  # B, 4, 4, DIM
        p = p.reshape(p.shape[0], -1, DIM)
        c = mx.broadcast_to(self.cls_tok, (p.shape[0], 1, DIM))
        h = mx.concatenate([c, p], axis=1) + self.pos
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h[:, 0]))


mx.random.seed(3)
model = TileViT()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


stages = [
    {"name": "easy", "steps": 80, "peak_lr": 3e-3, "data": (1.2, 1.4, 0.10)},
    {"name": "hard", "steps": 100, "peak_lr": 1.5e-3, "data": (0.7, 0.9, 0.25)},
]
BATCH = 32
t0 = time.time()

# check once that every trained tensor gets gradient signal
xs, ys = make_tiles(BATCH, 1.2, 1.4, 0.1)
_, g0 = nn.value_and_grad(model, loss_fn)(model, xs, ys)
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

for si, st in enumerate(stages):
    warm = 10
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak_lr"], warm),
         optim.cosine_decay(st["peak_lr"], st["steps"] - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        l, g = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, g)
        return l

    xv, yv = make_tiles(256, *st["data"])
    # fixed pool per stage, resampled batches
    xp, yp = make_tiles(1024, *st["data"])
    run = 0.0
    for it in range(1, st["steps"] + 1):
        idx = mx.array(rng.integers(0, 1024, size=BATCH))
        lr_now = float(sched(it - 1))
        l = step(xp[idx], yp[idx])
        mx.eval(l, model.parameters(), opt.state)
        run = l.item() if it == 1 else 0.9 * run + 0.1 * l.item()
        if it == 1 or it % 25 == 0 or it == st["steps"]:
            acc = float((mx.argmax(model(xv), axis=1) == yv).astype(mx.float32).mean())
            print(json.dumps({"stage": st["name"], "stage_idx": si, "step": it,
                              "lr": round(lr_now, 6), "xent": round(l.item(), 4),
                              "xent_ema": round(run, 4), "val_acc_pct": round(100 * acc, 1),
                              "chance_pct": 33.3}))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1)}))
