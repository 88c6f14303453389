"""Orchard LiDAR: training-system class of a fruit tree from its ragged point scan.

Each scan holds 30..150 returns (x, y in the tree's 2 m x 2 m footprint, height,
intensity).  Classes: open-centre vase, central leader, espalier wall.  The
points of a whole batch are kept flat; a shared per-point MLP encodes them and
a scatter-max (``.at[cell].maximum``) pools them into an 8x8 pillar grid per
scan, which a small conv net classifies.

8% of the training labels are flipped at random (field-sheet mix-ups), so the
training loss has a floor well above 0.  The learning rate follows cosine
annealing with two warm restarts, so the loss steps back up at each restart.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
G = 8
N_TRAIN, N_VAL = 480, 240
FLIP = 0.08
CLASSES = ["vase", "leader", "espalier"]


def make_scan(cls):
    n = int(rng.integers(30, 151))
    if cls == 0:    # vase: ring of scaffolds, hollow centre
        r = rng.normal(0.65, 0.12, n)
        a = rng.uniform(0, 2 * np.pi, n)
        h = rng.uniform(0.8, 2.6, n) + 0.5 * r
    elif cls == 1:  # central leader: cone
        h = rng.uniform(0.5, 3.2, n)
        r = np.abs(rng.normal(0.0, 1.0, n)) * (3.4 - h) * 0.25
        a = rng.uniform(0, 2 * np.pi, n)
    else:           # espalier: thin wall at a random bearing
        bearing = rng.uniform(0, np.pi)
        s = rng.uniform(-0.9, 0.9, n)
        off = rng.normal(0.0, 0.06, n)
        x = s * np.cos(bearing) - off * np.sin(bearing)
        y = s * np.sin(bearing) + off * np.cos(bearing)
        r, a = np.hypot(x, y), np.arctan2(y, x)
        h = rng.uniform(0.4, 2.2, n)
    x = np.clip(r * np.cos(a), -0.999, 0.999)
    y = np.clip(r * np.sin(a), -0.999, 0.999)
    inten = rng.uniform(0.2, 1.0, n) * (1.0 - 0.15 * h / 3.0)
    return np.stack([x, y, h / 3.0, inten], axis=1).astype(np.float32)


def make_set(n, flip):
    ys = rng.integers(0, 3, size=n)
    scans = [make_scan(c) for c in ys]
    noisy = ys.copy()
    if flip > 0:
        m = rng.random(n) < flip
        noisy[m] = (ys[m] + rng.integers(1, 3, size=m.sum())) % 3
    return scans, ys, noisy


tr_scans, tr_clean, tr_y = make_set(N_TRAIN, FLIP)
va_scans, va_y, _ = make_set(N_VAL, 0.0)


def pack(scans, idx):
    pts = [scans[i] for i in idx]
    flat = np.concatenate(pts, axis=0)
    scan_id = np.concatenate([np.full(p.shape[0], j) for j, p in enumerate(pts)])
    gx = np.floor((flat[:, 0] + 1.0) * G / 2.0).astype(np.int64)
    gy = np.floor((flat[:, 1] + 1.0) * G / 2.0).astype(np.int64)
    cell = (scan_id * G * G + gx * G + gy).astype(np.int32)
    return mx.array(flat), mx.array(cell), len(idx)


class PillarNet(nn.Module):
    def __init__(self, c=24):
        super().__init__()
        self.c = c
        self.point = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, c), nn.ReLU())
        self.conv1 = nn.Conv2d(c, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1, stride=2)
        self.head = nn.Linear(32, 3)

    def __call__(self, flat, cell, n_scans):
        f = self.point(flat)                                          # (P, C), >= 0
        grid = mx.zeros((n_scans * G * G, self.c)).at[cell].maximum(f)
        grid = grid.reshape(n_scans, G, G, self.c)                    # NHWC
        h = nn.relu(self.conv1(grid))
        h = nn.relu(self.conv2(h))
        return self.head(h.mean(axis=(1, 2)))


def loss_fn(model, flat, cell, n, y):
    return nn.losses.cross_entropy(model(flat, cell, n), y, reduction="mean")


EPOCHS, BS = 12, 48
spe = N_TRAIN // BS
cycle = 4 * spe
schedule = optim.join_schedules(
    [optim.cosine_decay(2e-3, cycle, 5e-5), optim.cosine_decay(2e-3, cycle, 5e-5),
     optim.cosine_decay(2e-3, cycle, 5e-5)],
    [cycle, 2 * cycle],
)

mx.random.seed(7)
model = PillarNet()
opt = optim.Adam(learning_rate=schedule)
step_fn = nn.value_and_grad(model, loss_fn)
va_pack = pack(va_scans, np.arange(N_VAL))
majority = np.bincount(va_y).max() / N_VAL
floor = -(1 - FLIP) * np.log(1 - FLIP) - FLIP * np.log(FLIP / 2)
print(f"scans train={N_TRAIN} val={N_VAL}, points/scan 30..150, label flips {FLIP:.0%}")
print(f"val majority-class baseline acc {majority:.3f}; train CE floor from flips ~{floor:.3f}")

t0 = time.time()
order = np.random.default_rng(9)
for epoch in range(EPOCHS):
    perm = order.permutation(N_TRAIN)
    tot, hits_noisy = 0.0, 0
    for b in range(spe):
        idx = perm[b * BS:(b + 1) * BS]
        flat, cell, n = pack(tr_scans, idx)
        y = mx.array(tr_y[idx])
        loss, grads = step_fn(model, flat, cell, n, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if True:
        logits = model(*va_pack)
        acc = (mx.argmax(logits, axis=1) == mx.array(va_y)).mean().item()
        tag = "  <- warm restart" if epoch in (4, 8) else ""
        print(f"epoch {epoch + 1:2d} lr {opt.learning_rate.item():.2e} train_ce {tot / spe:.4f} "
              f"val_acc {acc:.3f} (majority {majority:.3f}){tag}")

logits = model(*va_pack)
acc = (mx.argmax(logits, axis=1) == mx.array(va_y)).mean().item()
print(f"final val_acc {acc:.3f} vs majority {majority:.3f} in {time.time() - t0:.1f}s")
