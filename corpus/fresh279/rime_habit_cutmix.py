"""Ice-crystal habit classifier for a snow-lab camera (synthetic 16x16 frames).

Six habits: needle, column, hexagonal plate, sector plate, stellar dendrite,
graupel.  Small BatchNorm CNN, CutMix + label smoothing on the training
batches, SGD with Nesterov momentum on a one-cycle schedule that starts at
lr = 0 and ends at lr = 0, dihedral test-time augmentation at the end.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HABITS = ["needle", "column", "hex_plate", "sector_plate", "dendrite", "graupel"]
SIZE = 16
rng = np.random.default_rng(7)
mx.random.seed(7)


def frame(habit, rng):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy, cx = 7.5 + rng.uniform(-1.2, 1.2, size=2)
    dy, dx = yy - cy, xx - cx
    r = np.sqrt(dx * dx + dy * dy)
    th = np.arctan2(dy, dx)
    phase = rng.uniform(0, math.pi / 3)
    scale = rng.uniform(0.8, 1.15)
    img = np.zeros((SIZE, SIZE), np.float32)
    if habit in (0, 1):  # needle / column: a bar at a random angle
        ang = rng.uniform(0, math.pi)
        along = dx * math.cos(ang) + dy * math.sin(ang)
        across = -dx * math.sin(ang) + dy * math.cos(ang)
        half_len, half_w = (6.0 * scale, 0.6) if habit == 0 else (3.0 * scale, 1.6 * scale)
        img = ((np.abs(along) < half_len) & (np.abs(across) < half_w)).astype(np.float32)
    elif habit in (2, 3, 4):
        wedge = np.mod(th - phase, math.pi / 3) - math.pi / 6
        hexr = r * np.cos(wedge)
        if habit == 2:
            img = (hexr < 5.0 * scale).astype(np.float32)
        elif habit == 3:
            plate = (hexr < 5.5 * scale).astype(np.float32) * 0.45
            ribs = (np.abs(r * np.sin(wedge + math.pi / 6 - math.pi / 6)) < 0.7) & (r < 5.5 * scale)
            img = np.maximum(plate, ribs.astype(np.float32))
        else:
            arm = np.abs(r * np.sin(np.mod(th - phase + math.pi / 6, math.pi / 3) - math.pi / 6)) < 0.6
            side = (np.abs(np.mod(r, 2.2) - 1.1) < 0.45) & (np.abs(r * np.sin(np.mod(th - phase + math.pi / 6, math.pi / 3) - math.pi / 6)) < 1.8)
            img = ((arm | side) & (r < 6.8 * scale)).astype(np.float32)
    else:  # graupel: lumpy round blob with rime speckle
        k = rng.normal(0, 1, size=4)
        edge = 3.6 * scale * (1 + 0.12 * (k[0] * np.cos(3 * th) + k[1] * np.sin(3 * th) + k[2] * np.cos(5 * th) + k[3] * np.sin(2 * th)))
        img = (r < edge).astype(np.float32) * (0.7 + 0.3 * rng.random((SIZE, SIZE)))
    img = img * rng.uniform(0.6, 1.2) + rng.normal(0, 0.25, size=img.shape)
    return img.astype(np.float32)


def make_set(n, rng, mistag=0.03):
    y = rng.integers(0, len(HABITS), size=n)
    x = np.stack([frame(int(c), rng) for c in y])[..., None]  # NHWC
    flip = rng.random(n) < mistag
    y_obs = np.where(flip, rng.integers(0, len(HABITS), size=n), y)
    return x, y_obs.astype(np.int32)


class HabitNet(nn.Module):
    def __init__(self, n_cls=6):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.b1 = nn.BatchNorm(12)
        self.c2 = nn.Conv2d(12, 24, 3, padding=1)
        self.b2 = nn.BatchNorm(24)
        self.c3 = nn.Conv2d(24, 32, 3, padding=1)
        self.b3 = nn.BatchNorm(32)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(32, n_cls)

    def __call__(self, x):
        x = self.pool(nn.relu(self.b1(self.c1(x))))
        x = self.pool(nn.relu(self.b2(self.c2(x))))
        x = nn.relu(self.b3(self.c3(x)))
        return self.head(mx.mean(x, axis=(1, 2)))


def cutmix(xb, yb, rng, n_cls=6, smooth=0.1, p=0.5):
    soft = np.full((len(yb), n_cls), smooth / n_cls, np.float32)
    soft[np.arange(len(yb)), yb] += 1.0 - smooth
    if rng.random() > p:
        return xb, soft
    lam = rng.beta(1.0, 1.0)
    perm = rng.permutation(len(yb))
    h = int(round(SIZE * math.sqrt(1 - lam)))
    w = h
    top, left = rng.integers(0, SIZE - h + 1), rng.integers(0, SIZE - w + 1)
    xb = xb.copy()
    xb[:, top:top + h, left:left + w, :] = xb[perm, top:top + h, left:left + w, :]
    lam_area = 1.0 - (h * w) / (SIZE * SIZE)
    return xb, lam_area * soft + (1.0 - lam_area) * soft[perm]


def dihedral(xb, rng):
    k = rng.integers(0, 4)
    xb = np.rot90(xb, k=k, axes=(1, 2))
    if rng.random() < 0.5:
        xb = xb[:, :, ::-1, :]
    return np.ascontiguousarray(xb)


def loss_fn(model, x, t):
    return mx.mean(nn.losses.cross_entropy(model(x), t))


def evaluate(model, x, y, tta=False):
    model.eval()
    views = [x]
    if tta:
        views = []
        for k in range(4):
            v = np.rot90(x, k=k, axes=(1, 2))
            views += [np.ascontiguousarray(v), np.ascontiguousarray(v[:, :, ::-1, :])]
    probs = 0
    for v in views:
        probs = probs + mx.softmax(model(mx.array(v)), axis=-1)
    probs = probs / len(views)
    yy = mx.array(y)
    xent = mx.mean(-mx.log(mx.take_along_axis(probs, yy[:, None], axis=1) + 1e-9))
    acc = mx.mean(mx.argmax(probs, axis=1) == yy)
    model.train()
    return xent.item(), 100 * acc.item()


def main():
    t0 = time.time()
    xtr, ytr = make_set(1600, rng)
    xva, yva = make_set(500, rng)
    counts = np.bincount(ytr, minlength=6)
    majority = 100 * np.mean(yva == np.argmax(counts))
    print(f"ICEHAB data train={len(ytr)} val={len(yva)} frame={SIZE}x{SIZE}x1 classes={len(HABITS)} "
          f"mistag=3% majority_baseline={majority:.1f}% chance_xent={math.log(6):.3f}")

    model = HabitNet()
    mx.eval(model.parameters())
    epochs, bs = 9, 64
    steps_per_epoch = len(ytr) // bs
    total = epochs * steps_per_epoch
    warm = 2 * steps_per_epoch
    peak = 0.08
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.linear_schedule(peak, 0.0, total - warm)], [warm]
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    vag = nn.value_and_grad(model, loss_fn)
    model.train()

    xent0, acc0 = evaluate(model, xva, yva)
    print(f"ICEHAB untrained val_xent={xent0:.3f} val_acc={acc0:.1f}%")
    step = 0
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        run, n = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            xb = dihedral(xtr[idx], rng)
            xb, tb = cutmix(xb, ytr[idx], rng)
            lr_now = float(sched(step))
            loss, grads = vag(model, mx.array(xb), mx.array(tb))
            if step == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if mx.all(g == 0).item()]
                print(f"ICEHAB step1 lr_used={lr_now:.4f} grad_leaves={len(leaves)} all_zero={zero}")
            opt.update(model, grads)
            mx.eval(model.state, opt.state, loss)
            run += loss.item()
            n += 1
            step += 1
        vx, va = evaluate(model, xva, yva)
        print(f"ICEHAB E{ep:02d}/{epochs} lr_end={float(sched(step - 1)):.4f} "
              f"train_xent(cutmix+ls)={run / n:.3f} val_xent={vx:.3f} val_acc={va:.1f}% t={time.time() - t0:.1f}s")

    sv_x, sv_a = evaluate(model, xva, yva)
    tt_x, tt_a = evaluate(model, xva, yva, tta=True)
    print("ICEHAB summary")
    print(f"  majority-class baseline      acc={majority:5.1f}%")
    print(f"  single view                  acc={sv_a:5.1f}%  xent={sv_x:.3f}")
    print(f"  8-view dihedral TTA          acc={tt_a:5.1f}%  xent={tt_x:.3f}")
    print(f"  ceiling from 3% mistags      acc~{100 - 3 * 5 / 6:5.1f}%")
    print(f"ICEHAB done steps={step} secs={time.time() - t0:.1f}")


if __name__ == "__main__":
    main()
