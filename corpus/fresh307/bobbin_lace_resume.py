import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
KINDS = ["torchon", "cluny", "bucks", "honiton"]
H = W = 16


def draw(kind, n):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.empty((n, H, W, 1), np.float32)
    for i in range(n):
        ph = rng.uniform(0, 2 * np.pi)
        f = rng.uniform(0.7, 1.0)
        if kind == 0:
            img = np.sin(f * (xx + yy) + ph)
        elif kind == 1:
            img = np.sin(f * (xx - yy) + ph)
        elif kind == 2:
            img = np.sin(f * 1.3 * xx + ph) * np.sin(f * 1.3 * yy + ph)
        else:
            cy, cx = rng.uniform(5, 11, 2)
            img = np.cos(f * np.hypot(yy - cy, xx - cx) + ph)
        img = img + rng.normal(0, 0.9, img.shape)
        out[i, :, :, 0] = img
    return out


def make(n_per):
    xs, ys = [], []
    for k in range(4):
        xs.append(draw(k, n_per))
        ys.append(np.full(n_per, k, np.int32))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    p = rng.permutation(len(y))
    return x[p], y[p]


xtr, ytr = make(700)
xva, yva = make(200)
xtr_m, ytr_m, xva_m, yva_m = map(mx.array, (xtr, ytr, xva, yva))


class PillowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16)
        self.pw = nn.Conv2d(16, 32, 1)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        x = nn.relu(self.stem(x))
        x = nn.relu(self.pw(self.dw(x)))
        x = self.pool(x)
        return self.head(x.mean(axis=(1, 2)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


BATCH = 50
EPOCHS = 6
STEPS_PER_EPOCH = len(ytr) // BATCH
WARM = STEPS_PER_EPOCH
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM),
     optim.cosine_decay(3e-3, STEPS_PER_EPOCH * (EPOCHS - 1), 1e-4)],
    [WARM])


def build():
    m = PillowNet()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


def val_acc(model):
    pred = mx.argmax(model(xva_m), axis=1)
    return (pred == yva_m).astype(mx.float32).mean().item() * 100


def run_epochs(model, opt, first, last):
    lg = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        lr0 = opt.learning_rate.item()
        for s in range(STEPS_PER_EPOCH):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = lg(model, xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        print(f"{ep},{int(opt.step.item())},{lr0:.6f},{tot / STEPS_PER_EPOCH:.4f},"
              f"{val_acc(model):.2f},25.00")


t0 = time.time()
model, opt = build()
mx.eval(model.parameters())
print(f"# {len(ytr)} train / {len(yva)} val lace swatches, {H}x{W}x1 NHWC, "
      f"{sum(v.size for _, v in tree_flatten(model.parameters()))} params")
print("epoch,opt_step,lr_at_epoch_start,train_xent,val_acc_pct,chance_pct")
print(f"0,0,{0.0:.6f},{loss_fn(model, xtr_m, ytr_m).item():.4f},{val_acc(model):.2f},25.00")
run_epochs(model, opt, 1, 3)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "weights.safetensors")
spath = os.path.join(ckdir, "opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
before = val_acc(model)
print(f"# checkpoint written after epoch 3 (val_acc {before:.2f}); process state dropped")
del model, opt

model, opt = build()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(spath).items()))
mx.eval(model.parameters(), opt.state)
print(f"# resumed at opt_step {int(opt.step.item())}, val_acc {val_acc(model):.2f}")
run_epochs(model, opt, 4, EPOCHS)
print(f"# finished in {time.time() - t0:.1f}s")
