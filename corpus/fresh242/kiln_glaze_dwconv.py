"""Glaze-surface defect grading of kiln test tiles (synthetic 16x16 RGB crops).

Classes: 0 smooth, 1 crazing (thin dark crack lines), 2 pinholes, 3 crawling
(bare patches).  Depthwise-separable CNN with GroupNorm and stochastic depth.
The run is split in two sessions: session A trains silently and writes a
checkpoint; session B rebuilds everything from the files and finishes the
one-cycle schedule.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
mx.random.seed(3)
S = 16


def tiles(n):
    y = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    x = np.empty((n, S, S, 3), np.float32)
    for i in range(n):
        base = rng.uniform(0.3, 0.8, 3)
        img = np.broadcast_to(base, (S, S, 3)).copy()
        if y[i] == 1:
            for _ in range(3):
                a, b = rng.uniform(-1, 1, 2)
                c = rng.uniform(-6, 6)
                d = np.abs(a * (xx - 8) + b * (yy - 8) - c) / (np.hypot(a, b) + 1e-6)
                img -= 0.35 * (d < 0.6)[..., None]
        elif y[i] == 2:
            holes = rng.random((S, S)) < 0.05
            img -= 0.45 * holes[..., None]
        elif y[i] == 3:
            cy, cx, r = rng.uniform(3, 13), rng.uniform(3, 13), rng.uniform(2, 4)
            patch = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
            img[patch] = np.array([0.85, 0.8, 0.7])
        img += rng.normal(0, 0.12, img.shape)
        x[i] = img
    return x, y


xtr, ytr = tiles(2000)
xva, yva = tiles(500)
m, s = xtr.mean((0, 1, 2)), xtr.std((0, 1, 2))
xtr, xva = (xtr - m) / s, (xva - m) / s


class DWBlock(nn.Module):
    def __init__(self, c, survive):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.gn = nn.GroupNorm(4, c, pytorch_compatible=True)
        self.pw = nn.Conv2d(c, c, 1)
        self.survive = survive

    def __call__(self, x):
        h = self.pw(nn.gelu(self.gn(self.dw(x))))
        if self.training:
            keep = (mx.random.uniform(shape=(x.shape[0], 1, 1, 1)) < self.survive).astype(x.dtype)
            return x + h * keep / self.survive
        return x + h


class GlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, stride=2, padding=1)
        self.blocks = [DWBlock(24, 0.9), DWBlock(24, 0.8), DWBlock(24, 0.7)]
        self.head = nn.Linear(24, 4)

    def __call__(self, x):
        h = nn.gelu(self.stem(x))
        for b in self.blocks:
            h = b(h)
        return self.head(mx.max(h, axis=(1, 2)))


EPOCHS, SPLIT, BS, PEAK = 10, 4, 50, 0.08
STEPS_PER_EPOCH = len(xtr) // BS
TOTAL = EPOCHS * STEPS_PER_EPOCH


def one_cycle(step):
    # up from 0 over the first 30%, then down to ~0 (cosine)
    up = int(0.3 * TOTAL)
    if step < up:
        return PEAK * step / up
    f = (step - up) / (TOTAL - up)
    return PEAK * 0.5 * (1 + np.cos(np.pi * f))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def val_metrics(model):
    model.eval()
    logits = model(mx.array(xva))
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean").item()
    acc = (mx.argmax(logits, -1) == mx.array(yva)).mean().item()
    model.train()
    return ce, acc


def run_epochs(model, opt, first, last, report):
    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        t0, perm, tot = time.time(), rng.permutation(len(xtr)), 0.0
        for b in range(STEPS_PER_EPOCH):
            step = (ep - 1) * STEPS_PER_EPOCH + b
            opt.learning_rate = mx.array(one_cycle(step), dtype=mx.float32)
            idx = perm[b * BS:(b + 1) * BS]
            xb = xtr[idx]
            xb = np.where(rng.random((len(idx), 1, 1, 1)) < 0.5, xb[:, :, ::-1], xb)
            loss, g = vg(model, mx.array(xb), mx.array(ytr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if report:
            ce, acc = val_metrics(model)
            print(f"- epoch: {ep}\n  lr_end: {opt.learning_rate.item():.4f}\n  train_xent: {tot/STEPS_PER_EPOCH:.4f}"
                  f"\n  val_xent: {ce:.4f}\n  val_err_pct: {100*(1-acc):.1f}\n  secs: {time.time()-t0:.1f}")


ckdir = tempfile.mkdtemp()
print("session_a:")
model = GlazeNet()
model.train()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, weight_decay=5e-4, nesterov=True)
mx.eval(model.parameters())
g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(xtr[:BS]), mx.array(ytr[:BS]))[1]
print(f"  grad_leaves: {len(tree_flatten(g0))}\n  first_lr: {one_cycle(0):.4f}")
ce0, acc0 = val_metrics(model)
print(f"  untrained_val_err_pct: {100*(1-acc0):.1f}   # chance 75.0")
run_epochs(model, opt, 1, SPLIT, report=False)
ce_a, acc_a = val_metrics(model)
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"  saved_after_epoch: {SPLIT}\n  val_xent: {ce_a:.4f}\n  val_err_pct: {100*(1-acc_a):.1f}")
del model, opt

print("session_b:")
model = GlazeNet()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
model.train()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, weight_decay=5e-4, nesterov=True)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
ce_r, _ = val_metrics(model)
print(f"  restored_val_xent: {ce_r:.4f}\n  resume_lr: {one_cycle(SPLIT * STEPS_PER_EPOCH):.4f}\n  epochs:")
run_epochs(model, opt, SPLIT + 1, EPOCHS, report=True)
ce, acc = val_metrics(model)
print(f"summary:\n  val_xent: {ce:.4f}\n  val_err_pct: {100*(1-acc):.1f}\n  chance_err_pct: 75.0")
