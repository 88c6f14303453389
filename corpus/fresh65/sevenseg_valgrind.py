"""Read noisy seven-segment display digits (12x8 bitmaps) with a small MLP.

The compiled training step carries model and optimizer state; the log imitates
valgrind's memcheck output.
"""
import os
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H, W = 12, 8
SEGS = {  # a b c d e f g
    0: "abcdef", 1: "bc", 2: "abdeg", 3: "abcdg", 4: "bcfg",
    5: "acdfg", 6: "acdefg", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}
rng = np.random.default_rng(2024)


def render(digit):
    img = np.zeros((H, W), np.float32)
    th = rng.integers(1, 3)          # stroke thickness 1-2 px
    dx, dy = rng.integers(-1, 2), rng.integers(-1, 2)
    top, mid, bot = 1 + dy, 5 + dy, 9 + dy
    left, right = 1 + dx, 5 + dx
    for s in SEGS[digit]:
        if rng.random() < 0.06:       # dead segment
            continue
        if s == "a":
            img[top:top + th, left:right + 1] = 1
        elif s == "g":
            img[mid:mid + th, left:right + 1] = 1
        elif s == "d":
            img[bot:bot + th, left:right + 1] = 1
        elif s == "f":
            img[top:mid + 1, left:left + th] = 1
        elif s == "b":
            img[top:mid + 1, right:right + th] = 1
        elif s == "e":
            img[mid:bot + 1, left:left + th] = 1
        elif s == "c":
            img[mid:bot + 1, right:right + th] = 1
    img *= rng.uniform(0.5, 1.0)     # brightness
    img += rng.normal(0, 0.35, img.shape).astype(np.float32)
    flip = rng.random(img.shape) < 0.03
    img[flip] = 1.0 - img[flip]
    return img.reshape(-1)


def make(n):
    y = rng.integers(0, 10, n)
    x = np.stack([render(int(d)) for d in y])
    return mx.array(x), mx.array(y.astype(np.int32))


X_tr, y_tr = make(8000)
X_va, y_va = make(2000)

mx.random.seed(3)
model = nn.Sequential(
    nn.Linear(H * W, 128), nn.ReLU(),
    nn.Linear(128, 64), nn.ReLU(),
    nn.Linear(64, 10),
)
mx.eval(model.parameters())

EPOCHS, B = 12, 64
steps_per_epoch = X_tr.shape[0] // B
sched = optim.cosine_decay(0.05, EPOCHS * steps_per_epoch, end=1e-3)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(X_va)
    ce = nn.losses.cross_entropy(logits, y_va, reduction="mean")
    pred = mx.argmax(logits, axis=-1)
    acc = mx.mean(pred == y_va)
    return float(ce), float(acc), pred


pid = os.getpid() % 100000 or 1
V = f"=={pid}=="
print(f"{V} Memcheck, a memory error detector")
print(f"{V} Command: ./sevenseg --train {X_tr.shape[0]} --valid {X_va.shape[0]} --epochs {EPOCHS}")
print(V)

# first-step gradient audit (outside the compiled step)
l0, g0 = vg(model, X_tr[:B], y_tr[:B])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"{V} Gradient check: {len(flat)} leaves, {len(zero)} all-zero {zero}, initial loss {float(l0):.4f}")
ce0, acc0, _ = evaluate()
print(f"{V} Before training: valid CE {ce0:.4f}, valid accuracy {acc0:.3f} (chance 0.100)")

t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(X_tr.shape[0]))
    run = 0.0
    for s in range(steps_per_epoch):
        idx = perm[s * B:(s + 1) * B]
        loss = train_step(X_tr[idx], y_tr[idx])
        mx.eval(loss, state)
        run += loss.item()
    ce, acc, _ = evaluate()
    lr = float(opt.learning_rate)
    print(f"{V} Epoch {ep:2d}: in use at exit: train CE {run / steps_per_epoch:.4f} in {steps_per_epoch} blocks, "
          f"valid CE {ce:.4f}, valid acc {acc:.3f}, lr {lr:.4f}, {time.perf_counter() - t0:.1f}s")

ce, acc, pred = evaluate()
pred = np.array(pred)
yv = np.array(y_va)
print(V)
print(f"{V} HEAP SUMMARY:")
for d in range(10):
    m = yv == d
    print(f"{V}     digit {d}: {int(m.sum()):4d} samples, accuracy {float(np.mean(pred[m] == d)):.3f}")
print(V)
errors = int(np.sum(pred != yv))
print(f"{V} ERROR SUMMARY: {errors} errors from {len(yv)} contexts (valid accuracy {acc:.3f}, valid CE {ce:.4f})")
