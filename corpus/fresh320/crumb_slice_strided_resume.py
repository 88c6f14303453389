"""Bakery crumb scanner: classify 16x16 loaf-slice scans into 4 crumb types.

open (big irregular holes), tight (fine even holes), tunnel (one long
horizontal channel), gummy (dense, almost no holes, dark band at the bottom).
Small CNN with strided convolutions (no pooling layers) + BatchNorm + global
average, AdamW with linear warmup from 0 then step decay. Training is split in
two sessions: after session 1 the weights (BatchNorm running stats included)
and the optimizer state are written to disk, everything is rebuilt from
scratch, reloaded, and session 2 continues.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
H = W = 16
CLASSES = ["open", "tight", "tunnel", "gummy"]


def draw_slice(kind):
    img = np.full((H, W), 0.75, dtype=np.float32)
    yy, xx = np.mgrid[0:H, 0:W]

    def hole(cy, cx, r, depth):
        d = ((yy - cy) ** 2 + (xx - cx) ** 2) / (r * r)
        return depth * np.exp(-d)

    if kind == 0:  # open: a few large holes
        for _ in range(rng.integers(3, 6)):
            img -= hole(rng.uniform(1, 15), rng.uniform(1, 15), rng.uniform(1.8, 3.0), 0.55)
    elif kind == 1:  # tight: many small holes
        for _ in range(rng.integers(14, 22)):
            img -= hole(rng.uniform(0, 16), rng.uniform(0, 16), rng.uniform(0.5, 0.9), 0.35)
    elif kind == 2:  # tunnel: a horizontal channel at a random height
        cy = rng.uniform(4, 12)
        tilt = rng.uniform(-0.15, 0.15)
        d = (yy - cy - tilt * (xx - 8)) ** 2 / 1.6
        img -= 0.6 * np.exp(-d)
        for _ in range(rng.integers(3, 7)):
            img -= hole(rng.uniform(0, 16), rng.uniform(0, 16), 0.7, 0.25)
    else:  # gummy: dense crumb and a dark compressed band at the bottom
        band = rng.integers(10, 13)
        img[band:, :] -= rng.uniform(0.35, 0.5)
        for _ in range(rng.integers(2, 5)):
            img -= hole(rng.uniform(0, 9), rng.uniform(0, 16), 0.6, 0.2)
    img *= rng.uniform(0.8, 1.2)  # scanner exposure
    img += rng.normal(0, 0.32, size=img.shape).astype(np.float32)
    return img


def make_split(n):
    y = rng.integers(0, 4, size=n)
    x = np.stack([draw_slice(k) for k in y])[..., None]  # NHWC
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make_split(1600)
xva, yva = make_split(600)
mu, sd = xtr.mean(), xtr.std()
xtr = (xtr - mu) / sd
xva = (xva - mu) / sd
Xtr, Ytr, Xva, Yva = mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva)


class CrumbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, stride=1, padding=1, bias=False)
        self.b1 = nn.BatchNorm(16)
        self.c2 = nn.Conv2d(16, 24, 3, stride=2, padding=1, bias=False)  # 16 -> 8
        self.b2 = nn.BatchNorm(24)
        self.c3 = nn.Conv2d(24, 32, 3, stride=2, padding=1, bias=False)  # 8 -> 4
        self.b3 = nn.BatchNorm(32)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        x = nn.relu(self.b1(self.c1(x)))
        x = nn.relu(self.b2(self.c2(x)))
        x = nn.relu(self.b3(self.c3(x)))
        x = x.mean(axis=(1, 2))  # global average over H, W
        return self.head(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


BATCH = 64
EPOCHS = 12
SESSION1 = 6
steps_per_epoch = len(ytr) // BATCH
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.step_decay(3e-3, 0.3, 4 * steps_per_epoch)],
    [warm],
)


def build():
    m = CrumbNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def evaluate(model):
    model.eval()
    logits = model(Xva)
    acc = mx.mean(mx.argmax(logits, axis=1) == Yva).item()
    vloss = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    model.train()
    return vloss, acc


def run_epochs(model, opt, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
        if ep % 2 == 1 or ep == last - 1:
            vloss, acc = evaluate(model)
            print(f"epoch {ep + 1:2d}  lr {opt.learning_rate.item():.5f}  "
                  f"train_loss {tot / steps_per_epoch:.4f}  val_loss {vloss:.4f}  val_acc {acc:.3f}")


# baselines beside the model
maj = np.bincount(ytr).argmax()
base_major = float((yva == maj).mean())
# mean-intensity-of-bottom-rows threshold baseline (only separates gummy)
bottom = xva[:, 12:, :, 0].mean(axis=(1, 2))
thr = np.median(xtr[:, 12:, :, 0].mean(axis=(1, 2)))
guess = np.where(bottom < thr - 0.6, 3, maj)
base_bottom = float((guess == yva).mean())
print(f"baseline majority_class acc {base_major:.3f}   bottom_band_rule acc {base_bottom:.3f}")

t0 = time.time()
mx.random.seed(3)
model, opt = build()
print("session 1: warmup from lr 0")
run_epochs(model, opt, 0, SESSION1)
vl1, acc1 = evaluate(model)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "crumb.safetensors")
opath = os.path.join(ckdir, "crumb_opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(f"checkpoint written after epoch {SESSION1} (val_acc {acc1:.3f})")
del model, opt

# session 2: fresh objects, reload everything
model, opt = build()
model.load_weights(wpath)
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(opath).items()))
vl2, acc2 = evaluate(model)
print(f"session 2: resumed at step {opt.step.item()}  val_loss {vl2:.4f}  val_acc {acc2:.3f}")
run_epochs(model, opt, SESSION1, EPOCHS)

vloss, acc = evaluate(model)
print(f"final val_loss {vloss:.4f}  val_acc {acc:.3f}  "
      f"(majority {base_major:.3f}, bottom-band rule {base_bottom:.3f})  {time.time() - t0:.1f}s")
