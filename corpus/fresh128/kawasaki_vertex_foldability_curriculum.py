"""Origami: is a single-vertex crease pattern flat-foldable? (Kawasaki's theorem)

Sector angles around one vertex sum to 360 deg; the vertex folds flat iff the
alternating sectors each sum to 180 deg. Stage 1 trains on 4-crease vertices,
stage 2 adds 6-crease vertices with a narrower margin (harder, so the loss jumps
when it starts). Learning rate warms up from exactly 0.
"""
import math
import random
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
mx.random.seed(2024)
random.seed(2024)
MAXC = 6


def split_angles(total, k, lo=8.0):
    # k positive angles (deg) summing to total, each >= lo
    w = rng.dirichlet(np.ones(k))
    return lo + w * (total - lo * k)


def make_vertex(n, foldable, margin):
    half = n // 2
    if foldable:
        a, b = 180.0, 180.0
    else:
        d = rng.uniform(margin, 60.0) * rng.choice([-1, 1])
        a, b = 180.0 + d / 2, 180.0 - d / 2
    odd = split_angles(a, half)
    even = split_angles(b, half)
    ang = np.empty(n)
    ang[0::2], ang[1::2] = odd, even
    ang = np.roll(ang, rng.integers(n))  # start at a random crease
    feat = np.zeros(2 * MAXC, dtype=np.float32)
    feat[:n] = (ang - 360.0 / n) / 20.0
    feat[MAXC : MAXC + n] = 1.0  # which slots are real sectors
    return feat


def make_set(count, sizes, margin):
    xs, ys = [], []
    for i in range(count):
        y = i % 2
        xs.append(make_vertex(int(rng.choice(sizes)), bool(y), margin))
        ys.append(y)
    idx = rng.permutation(count)
    return mx.array(np.stack(xs)[idx]), mx.array(np.array(ys, dtype=np.int32)[idx])


STAGES = [
    ("4-crease", (4,), 14.0, 5),
    ("4+6-crease", (4, 6, 6), 6.0, 7),
]
BATCH = 64
STEPS_PER_EPOCH = 80


class FoldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2 * MAXC, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 2)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def bar(frac, width=20):
    n = int(round(frac * width))
    return "#" * n + "." * (width - n)


model = FoldNet()
mx.eval(model.parameters())
total_steps = sum(s[3] for s in STAGES) * STEPS_PER_EPOCH
warmup = 60
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-2, warmup), optim.cosine_decay(1e-2, total_steps - warmup, 3e-4)],
    [warmup],
)
opt = optim.Adamax(learning_rate=schedule)
vg = nn.value_and_grad(model, loss_fn)

# every weight must receive gradient
xp, yp = make_set(128, (4, 6), 6.0)
_, g0 = vg(model, xp, yp)
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).sum().item()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, zero-grad tensors: {dead or 'none'}")

val_hard_x, val_hard_y = make_set(1200, (4, 6, 6), 6.0)
gstep = 0
for s_idx, (name, sizes, margin, epochs) in enumerate(STAGES, start=1):
    tr_x, tr_y = make_set(BATCH * STEPS_PER_EPOCH * 2, sizes, margin)
    va_x, va_y = make_set(1000, sizes, margin)
    print(f"== stage {s_idx}/{len(STAGES)}: {name} vertices, margin {margin:.0f} deg ==")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(tr_x.shape[0]))
        run = 0.0
        for it in range(STEPS_PER_EPOCH):
            ids = perm[it * BATCH : (it + 1) * BATCH]
            loss, grads = vg(model, tr_x[ids], tr_y[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            gstep += 1
            run += loss.item()
            if (it + 1) % 40 == 0:
                sys.stdout.write(
                    f"stage{s_idx} ep{ep}/{epochs} |{bar((it + 1) / STEPS_PER_EPOCH)}| "
                    f"{it + 1}/{STEPS_PER_EPOCH} [loss={run / (it + 1):.3f}, lr={float(opt.learning_rate.item()):.2e}]\n"
                )
        acc = 100 * accuracy(model, va_x, va_y)
        hard = 100 * accuracy(model, val_hard_x, val_hard_y)
        print(f"  -> stage-val acc {acc:5.1f}%  mixed-val acc {hard:5.1f}%  (chance 50.0%)")

print(f"final: mixed-val accuracy {hard:.1f}% after {gstep} steps")
