"""Pollen grain sculpture typing from 16x16 light-microscope crops.

Tiny ViT: Conv2d patch embedding (NHWC), one class token + two register
tokens, constant 2-D sin/cos position table, pre-norm blocks with LayerScale
(gamma starts at 1e-3) and drop-path.  Adam, warm-up from lr 0 then
exponential decay, label smoothing.  Reports are YAML documents.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 7
IMG = 16
PATCH = 4
DIM = 32
HEADS = 2
DEPTH = 2
N_REG = 2
CLASSES = ["psilate", "echinate", "triporate", "colpate"]
BATCH = 40
STEPS = 300
WARMUP = 40
PEAK_LR = 2e-3
REPORT_EVERY = 60
DROP_PATH = 0.1
SMOOTH = 0.1

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_grains(n):
    yy, xx = np.mgrid[0:IMG, 0:IMG].astype(np.float32)
    imgs = np.zeros((n, IMG, IMG, 1), np.float32)
    labels = rng.integers(0, len(CLASSES), size=n)
    for i, c in enumerate(labels):
        cy, cx = 7.5 + rng.normal(0, 0.8, 2)
        r0 = rng.uniform(4.2, 5.6)
        rot = rng.uniform(0, 2 * np.pi)
        dy, dx = yy - cy, xx - cx
        rad = np.sqrt(dy ** 2 + dx ** 2)
        th = np.arctan2(dy, dx) - rot
        if c == 3:  # elongated grain with a furrow
            u = dx * np.cos(rot) + dy * np.sin(rot)
            v = -dx * np.sin(rot) + dy * np.cos(rot)
            body = (u / (r0 * 1.25)) ** 2 + (v / (r0 * 0.7)) ** 2 < 1.0
            img = body * 1.0 - body * 0.8 * (np.abs(v) < 0.9)
        else:
            edge = r0
            if c == 1:
                edge = r0 * (1 + 0.2 * np.cos(9 * th))
            img = (rad < edge) * 1.0
            if c == 2:
                for k in range(3):
                    a = rot + k * 2 * np.pi / 3
                    py, px = cy + 0.75 * r0 * np.sin(a), cx + 0.75 * r0 * np.cos(a)
                    img = img - 0.9 * (((yy - py) ** 2 + (xx - px) ** 2) < 1.6)
        img = img * rng.uniform(0.7, 1.2) + rng.normal(0, 0.2, img.shape)
        imgs[i, :, :, 0] = img
    return imgs, labels.astype(np.int32)


def sincos_2d(grid, dim):
    q = dim // 4
    omega = 1.0 / (10000 ** (np.arange(q) / q))
    ys, xs = np.mgrid[0:grid, 0:grid]
    oy = ys.reshape(-1, 1) * omega[None]
    ox = xs.reshape(-1, 1) * omega[None]
    table = np.concatenate([np.sin(ox), np.cos(ox), np.sin(oy), np.cos(oy)], 1)
    return mx.array(table[None].astype(np.float32))


class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p

    def __call__(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = mx.random.bernoulli(1 - self.p, (x.shape[0], 1, 1))
        return x * keep / (1 - self.p)


class Block(nn.Module):
    def __init__(self, dim, heads, dp):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.g1 = mx.full((dim,), 1e-3)
        self.g2 = mx.full((dim,), 1e-3)
        self.dp = DropPath(dp)

    def __call__(self, x):
        h = self.n1(x)
        x = x + self.dp(self.g1 * self.attn(h, h, h))
        x = x + self.dp(self.g2 * self.mlp(self.n2(x)))
        return x


class GrainViT(nn.Module):
    def __init__(self):
        super().__init__()
        grid = IMG // PATCH
        self.patch = nn.Conv2d(1, DIM, PATCH, stride=PATCH)
        self.cls = mx.random.normal((1, 1, DIM)) * 0.02
        self.reg = mx.random.normal((1, N_REG, DIM)) * 0.02
        self.pos = sincos_2d(grid, DIM)
        self.blocks = [Block(DIM, HEADS, DROP_PATH * (i + 1) / DEPTH) for i in range(DEPTH)]
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, len(CLASSES))
        self.freeze(recurse=False, keys=["pos"])

    def __call__(self, x):
        b = x.shape[0]
        t = self.patch(x).reshape(b, -1, DIM) + self.pos
        cls = mx.broadcast_to(self.cls, (b, 1, DIM))
        reg = mx.broadcast_to(self.reg, (b, N_REG, DIM))
        t = mx.concatenate([cls, reg, t], axis=1)
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.norm(t[:, 0]))


def loss_fn(model, x, y):
    logits = model(x)
    return mx.mean(nn.losses.cross_entropy(logits, y, label_smoothing=SMOOTH))


def error_pct(model, x, y):
    model.eval()
    pred = mx.argmax(model(x), axis=1)
    model.train()
    return 100.0 * (1.0 - mx.mean(pred == y).item())


def centroid_error_pct(xtr, ytr, xte, yte):
    a = xtr.reshape(len(xtr), -1)
    b = xte.reshape(len(xte), -1)
    cents = np.stack([a[ytr == k].mean(0) for k in range(len(CLASSES))])
    d = ((b[:, None, :] - cents[None]) ** 2).sum(-1)
    return 100.0 * np.mean(d.argmin(1) != yte)


def emit(doc, **fields):
    print(f"--- # {doc}")
    for k, v in fields.items():
        if isinstance(v, float):
            print(f"{k}: {v:.4f}")
        elif isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk}: {vv}")
        else:
            print(f"{k}: {v}")


def main():
    t0 = time.time()
    xtr, ytr = make_grains(2400)
    xva, yva = make_grains(400)
    mu, sd = xtr.mean(), xtr.std()
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    Xtr, Ytr, Xva, Yva = mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva)

    model = GrainViT()
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_const = sum(v.size for _, v in tree_flatten(model.parameters())) - n_train
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.exponential_decay(PEAK_LR, 0.993)], [WARMUP])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)
    pos_before = np.array(model.pos)

    emit("setup", classes=CLASSES, train=len(ytr), val=len(yva),
         trainable=n_train, constant=n_const,
         centroid_val_err_pct=round(centroid_error_pct(xtr, ytr, xva, yva), 2),
         chance_err_pct=75.0)

    emit("report", step=0, lr=float(sched(mx.array(0))), train_ce="~",
         val_err_pct=round(error_pct(model, Xva, Yva), 2))

    run, seen = 0.0, 0
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, len(ytr), BATCH))
        lr_now = float(opt.learning_rate)
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            emit("grad_check", leaves=len(flat), all_zero=zero or "none",
                 lr_used=lr_now)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        seen += 1
        if step % REPORT_EVERY == 0:
            gam = float(mx.mean(mx.abs(model.blocks[0].g1)))
            emit("report", step=step, lr=lr_now, train_ce=round(run / seen, 4),
                 val_err_pct=round(error_pct(model, Xva, Yva), 2),
                 layerscale_mean=round(gam, 5))
            run, seen = 0.0, 0

    model.eval()
    pred = np.array(mx.argmax(model(Xva), axis=1))
    per = {c: round(100.0 * float(np.mean(pred[yva == k] != k)), 1)
           for k, c in enumerate(CLASSES)}
    emit("summary", val_err_pct=round(100.0 * float(np.mean(pred != yva)), 2),
         per_class_err_pct=per,
         pos_table_change=float(np.abs(np.array(model.pos) - pos_before).max()),
         smoothing_floor_ce=round(-(1 - SMOOTH + SMOOTH / 4) * math.log(1 - SMOOTH + SMOOTH / 4)
                                  - 3 * (SMOOTH / 4) * math.log(SMOOTH / 4), 4),
         seconds=round(time.time() - t0, 1))
    print("...")


if __name__ == "__main__":
    main()
