# Optical music reading, first step: which staff position (E4 .. F5, lines and spaces) a single
# notehead sits on, from a tiny 15x11 grayscale crop. The crops get harder in steps.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H, W = 15, 11
NAMES = ["E4", "F4", "G4", "A4", "B4", "C5", "D5", "E5", "F5"]
rng = np.random.default_rng(5388)

LEVELS = [
    dict(title="clean engraving, centred heads", jitter=0, shift=0, noise=0.05, thick=False, clutter=0.0),
    dict(title="hand copies: heads drift sideways, thick lines", jitter=2, shift=0, noise=0.15, thick=True, clutter=0.2),
    dict(title="phone scans: staff offset, stems, heavy grain", jitter=2, shift=1, noise=0.25, thick=True, clutter=0.4),
]


def render(n, lv):
    img = np.zeros((n, H, W), np.float32)
    y = rng.integers(0, 9, n)
    top = 3 + rng.integers(-lv["shift"], lv["shift"] + 1, n)
    for i in range(n):
        for line in range(5):
            r = top[i] + 2 * line
            img[i, r, :] = rng.uniform(0.5, 0.8)
            if lv["thick"] and rng.random() < 0.3:
                img[i, min(r + 1, H - 1), :] += 0.3
        # position 0 = bottom line (E4), each step up is half a staff space
        r = top[i] + 8 - y[i]
        c = W // 2 + rng.integers(-lv["jitter"], lv["jitter"] + 1)
        img[i, r, c - 1:c + 2] = 1.0
        if r - 1 >= 0:
            img[i, r - 1, c] = 1.0
        if r + 1 < H:
            img[i, r + 1, c] = 1.0
        if rng.random() < lv["clutter"]:
            side = c + 1 if y[i] < 4 else c - 1
            lo, hi = (r - 5, r) if y[i] < 4 else (r + 1, r + 6)
            img[i, max(lo, 0):max(min(hi, H), 0), side] = 0.9
        if rng.random() < lv["clutter"] / 2:
            img[i, :, rng.integers(0, W)] += 0.4  # barline or neighbour's stem
    img += rng.normal(0, lv["noise"], img.shape).astype(np.float32)
    return mx.array(img[..., None]), mx.array(y.astype(np.int32))


class HeadReader(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 16, 3, padding=1)
        self.fc = nn.Linear(16 * H, 48)
        self.out = nn.Linear(48, 9)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = h.max(axis=2)  # pool across the width: pitch is vertical
        h = h.reshape(h.shape[0], -1)
        return self.out(nn.relu(self.fc(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def score(model, x, y):
    logits = model(x)
    ll = -nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, -1) == y).item()
    return ll, acc


model = HeadReader()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)
STEPS = [100, 100, 250]
BATCH = 64
final_x, final_y = render(800, LEVELS[-1])
chance_ll = -math.log(9)

print(f"staff-position reader: 9 positions {NAMES[0]}..{NAMES[-1]}, crops {H}x{W}")
print(f"scores are mean log-likelihood per crop (0 is perfect, chance {chance_ll:.3f}) and accuracy")
t0 = time.time()
for s, (lv, steps) in enumerate(zip(LEVELS, STEPS)):
    print()
    print(f"~~~~~~~~ difficulty step {s + 1} of {len(LEVELS)}: {lv['title']} ~~~~~~~~")
    tx, ty = render(3000, lv)
    vx, vy = render(600, lv)
    ll, acc = score(model, vx, vy)
    print(f"    on arrival   : this level loglik {ll:7.3f} acc {100 * acc:5.1f}%")
    # warm restart: every step starts the cosine again from its peak
    sched = optim.cosine_decay(0.05, steps, 0.002)
    for k in range(steps):
        opt.learning_rate = sched(k)
        idx = mx.array(rng.integers(0, 3000, BATCH))
        loss, g = vg(model, tx[idx], ty[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if k == 0 and s == 0:
            from mlx.utils import tree_flatten
            gl = tree_flatten(g)
            print(f"    grads: {len(gl)} tensors, smallest max|g| {min(float(mx.abs(v).max()) for _, v in gl):.2e}")
        if (k + 1) % 50 == 0:
            ll, acc = score(model, vx, vy)
            fll, facc = score(model, final_x, final_y)
            print(f"    step {k + 1:3d} lr {float(sched(k)):.4f} | this level loglik {ll:7.3f} acc {100 * acc:5.1f}%"
                  f" | hardest level loglik {fll:7.3f} acc {100 * facc:5.1f}% | {time.time() - t0:4.1f}s")

print()
ll, acc = score(model, final_x, final_y)
pred = np.array(mx.argmax(model(final_x), -1))
yt = np.array(final_y)
per = [100 * np.mean(pred[yt == c] == c) for c in range(9)]
print(f"hardest level, 800 crops: loglik {ll:.3f} (chance {chance_ll:.3f}), accuracy {100 * acc:.1f}% (chance 11.1%)")
print("per position: " + "  ".join(f"{n} {p:.0f}%" for n, p in zip(NAMES, per)))
