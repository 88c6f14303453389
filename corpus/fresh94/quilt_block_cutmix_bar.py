"""Quilt-block recogniser: which of five classic blocks is in a 12x12 scan.

Small CNN trained with CutMix (soft mixed targets), Nesterov SGD whose learning
rate warms up from exactly 0 and then follows a cosine decay.  The training
loss is measured against the *mixed* targets, so it stays far above zero even
when the clean test error is tiny.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BLOCKS = ["nine_patch", "log_cabin", "flying_geese", "pinwheel", "half_square"]
SIZE = 12


def draw_block(kind, rng):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    if kind == 0:      # nine patch: 3x3 checker of 4x4 squares
        img = ((yy // 4 + xx // 4) % 2).astype(np.float32)
    elif kind == 1:    # log cabin: rings, light on two sides, dark on the others
        ring = np.minimum(np.minimum(yy, xx), np.minimum(SIZE - 1 - yy, SIZE - 1 - xx))
        light_side = (yy < xx)
        img = np.where(light_side, 0.2 + 0.1 * (ring % 2), 0.8 + 0.1 * (ring % 2)).astype(np.float32)
    elif kind == 2:    # flying geese: two rows of upward triangles
        local_y = yy % 6
        img = (np.abs(xx - 5.5) <= local_y).astype(np.float32)
    elif kind == 3:    # pinwheel: four half-square triangles turning around the centre
        qy, qx = yy % 6, xx % 6
        quad = (yy // 6) * 2 + (xx // 6)
        tri = np.where(quad % 3 == 0, qx > qy, qx < qy)
        img = tri.astype(np.float32)
    else:              # half square triangle: one diagonal split
        img = (xx > yy).astype(np.float32)
    img = np.rot90(img, k=rng.integers(4)).copy()
    if rng.random() < 0.5:
        img = 1.0 - img
    img = np.roll(img, shift=(rng.integers(-1, 2), rng.integers(-1, 2)), axis=(0, 1))
    contrast = rng.uniform(0.6, 1.4)
    img = (img - 0.5) * contrast + rng.normal(0.0, 0.35, size=img.shape)
    return img.astype(np.float32)


def make_scans(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(BLOCKS), size=n)
    x = np.stack([draw_block(k, rng) for k in y])[..., None]   # NHWC, one channel
    return x, y.astype(np.int32)


class BlockNet(nn.Module):
    def __init__(self, n_classes=5):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 24, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(24, 32, 3, stride=2, padding=1)
        self.head = nn.Linear(32, n_classes)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        return self.head(h.mean(axis=(1, 2)))


def soft_ce(model, x, targets):
    logp = nn.log_softmax(model(x), axis=-1)
    return -(targets * logp).sum(axis=-1).mean()


def cutmix(xb, yb, rng, n_classes):
    """Paste a random box from a shuffled copy of the batch; mix targets by area."""
    b = xb.shape[0]
    perm = rng.permutation(b)
    lam = rng.beta(1.0, 1.0)
    cut = int(round(SIZE * math.sqrt(1.0 - lam)))
    cy, cx = rng.integers(SIZE), rng.integers(SIZE)
    y0, y1 = max(cy - cut // 2, 0), min(cy + cut - cut // 2, SIZE)
    x0, x1 = max(cx - cut // 2, 0), min(cx + cut - cut // 2, SIZE)
    mixed = xb.copy()
    mixed[:, y0:y1, x0:x1, :] = xb[perm, y0:y1, x0:x1, :]
    lam_area = 1.0 - (y1 - y0) * (x1 - x0) / float(SIZE * SIZE)
    eye = np.eye(n_classes, dtype=np.float32)
    targets = lam_area * eye[yb] + (1.0 - lam_area) * eye[yb[perm]]
    return mixed, targets.astype(np.float32)


def error_rate(model, x, y, bs=500):
    wrong = 0
    for i in range(0, len(y), bs):
        pred = mx.argmax(model(mx.array(x[i:i + bs])), axis=-1)
        wrong += int((pred != mx.array(y[i:i + bs])).sum().item())
    return 100.0 * wrong / len(y)


def bar(done, total, width=28):
    filled = int(width * done / total)
    return "[" + "=" * filled + ">" * (filled < width) + "." * (width - filled - 1 * (filled < width)) + "]"


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(11)
    x_tr, y_tr = make_scans(4800, seed=1)
    x_te, y_te = make_scans(1500, seed=2)
    print(f"scans: train {x_tr.shape} test {x_te.shape} classes {BLOCKS}")

    model = BlockNet(len(BLOCKS))
    mx.eval(model.parameters())

    batch, epochs = 64, 7
    steps_per_epoch = len(y_tr) // batch
    total_steps = epochs * steps_per_epoch
    warm = 120
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, warm),
         optim.cosine_decay(0.08, total_steps - warm, end=1e-3)],
        [warm],
    )
    opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=5e-4)
    step_fn = nn.value_and_grad(model, soft_ce)

    # wiring check on one clean batch: every leaf must receive gradient
    eye = np.eye(len(BLOCKS), dtype=np.float32)
    _, g0 = step_fn(model, mx.array(x_tr[:batch]), mx.array(eye[y_tr[:batch]]))
    from mlx.utils import tree_flatten
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
    print(f"grad check: {len(leaves)} leaves, zero leaves: {dead if dead else 'none'}")
    print(f"untrained test err {error_rate(model, x_te, y_te):.1f}%  (chance {100 - 100 / len(BLOCKS):.0f}%)")

    t0 = time.perf_counter()
    step = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y_tr))
        run_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            xm, tm = cutmix(x_tr[idx], y_tr[idx], rng, len(BLOCKS))
            lr_now = float(schedule(step))
            loss, grads = step_fn(model, mx.array(xm), mx.array(tm))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run_loss += loss.item()
            if b % 8 == 0 or b == steps_per_epoch - 1:
                sys.stdout.write(
                    f"\repoch {epoch}/{epochs} {bar(b + 1, steps_per_epoch)} "
                    f"{b + 1:3d}/{steps_per_epoch} lr {lr_now:.4f} mix-loss {run_loss / (b + 1):.3f}"
                )
                sys.stdout.flush()
        err = error_rate(model, x_te, y_te)
        sys.stdout.write(f"  | clean test err {err:5.2f}%  {time.perf_counter() - t0:5.1f}s\n")
        sys.stdout.flush()
    print(f"done: {step} updates, final clean test err {error_rate(model, x_te, y_te):.2f}%")


if __name__ == "__main__":
    main()
