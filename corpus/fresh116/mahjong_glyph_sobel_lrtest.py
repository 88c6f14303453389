"""Mahjong tile glyph recogniser.

9 tile kinds (bamboo 1-3, dots 1-3, characters 1-3) drawn as 12x12 noisy
glyphs.  The first conv layer is a fixed, hand-designed filter bank (Sobel x,
Sobel y, Laplacian, 3x3 box blur) that we keep frozen on purpose; the rest of
the CNN trains.  Before the real run we do an LR range test on a throw-away
copy (its loss blows up at the end of the sweep by design), pick a learning
rate a decade below the loss minimum, and then train from fresh weights.

Reports are RFC-822 style header blocks separated by blank lines.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SIZE = 12
KINDS = ["bamboo-1", "bamboo-2", "bamboo-3", "dots-1", "dots-2", "dots-3",
         "char-1", "char-2", "char-3"]


def draw(kind, rng):
    img = np.zeros((SIZE, SIZE), np.float32)
    suit, n = kind // 3, kind % 3 + 1
    dx, dy = rng.integers(-1, 2, size=2)
    if suit == 0:  # vertical sticks
        cols = np.linspace(3, 8, n).round().astype(int) if n > 1 else np.array([6])
        for c in cols:
            img[2:10, c] = 1.0
    elif suit == 1:  # round dots
        yy, xx = np.mgrid[0:SIZE, 0:SIZE]
        centres = [(6, 6)] if n == 1 else [(4, 4), (8, 8)] if n == 2 else [(3, 3), (6, 6), (9, 9)]
        for cy, cx in centres:
            img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 2] = 1.0
    else:  # horizontal strokes
        rows = np.linspace(3, 8, n).round().astype(int) if n > 1 else np.array([6])
        for r in rows:
            img[r, 2:10] = 1.0
    img = np.roll(np.roll(img, dy, axis=0), dx, axis=1)
    img = img * rng.uniform(0.6, 1.0) + rng.normal(0, 0.35, img.shape)
    return img.astype(np.float32)


def make_set(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 9, size=n)
    x = np.stack([draw(k, rng) for k in y])[..., None]  # NHWC
    return x, y.astype(np.int32)


def fixed_bank():
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 4
    sy = sx.T.copy()
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32) / 4
    box = np.full((3, 3), 1 / 9, np.float32)
    w = np.stack([sx, sy, lap, box])[..., None]  # (out, kh, kw, in)
    return mx.array(w)


class TileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.stem.weight = fixed_bank()
        self.stem.freeze()
        self.c2 = nn.Conv2d(4, 16, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = nn.Linear(32 * 3 * 3, 9)

    def __call__(self, x):
        h = mx.abs(self.stem(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        return self.head(h.reshape(h.shape[0], -1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def block(**fields):
    for k, v in fields.items():
        print(f"{k.replace('_', '-').title()}: {v}")
    print()


def accuracy(model, x, y, bs=300):
    hits = 0
    for i in range(0, len(y), bs):
        pred = mx.argmax(model(x[i:i + bs]), axis=1)
        hits += int(mx.sum(pred == y[i:i + bs]).item())
    return 100.0 * hits / len(y)


def lr_range_test(xtr, ytr, lo=1e-4, hi=10.0, steps=80, bs=64):
    mx.random.seed(99)
    probe = TileNet()
    opt = optim.SGD(learning_rate=lo, momentum=0.9)
    vg = nn.value_and_grad(probe, loss_fn)
    rng = np.random.default_rng(5)
    smooth, best, best_lr, hist = None, math.inf, lo, []
    for k in range(steps):
        lr = lo * (hi / lo) ** (k / (steps - 1))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, len(ytr), bs))
        loss, g = vg(probe, xtr[idx], ytr[idx])
        opt.update(probe, g)
        mx.eval(probe.parameters(), opt.state, loss)
        v = loss.item()
        smooth = v if smooth is None else 0.8 * smooth + 0.2 * v
        hist.append((lr, smooth))
        if smooth < best:
            best, best_lr = smooth, lr
        if not math.isfinite(smooth) or smooth > 4 * best:
            break
    return best_lr, best, hist


def main():
    t0 = time.time()
    xtr, ytr = make_set(3600, 1)
    xte, yte = make_set(900, 2)
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))
    block(Phase="data", Train_images=xtr.shape[0], Test_images=xte.shape[0],
          Shape="x".join(map(str, xtr.shape[1:])), Classes=len(KINDS),
          Chance_accuracy=f"{100 / 9:.1f}%")

    best_lr, best_loss, hist = lr_range_test(xtr, ytr)
    lr = best_lr / 10
    block(Phase="lr-range-test", Steps_run=len(hist),
          Start=f"lr={hist[0][0]:.2e} loss={hist[0][1]:.3f}",
          Minimum=f"lr={best_lr:.2e} loss={best_loss:.3f}",
          End=f"lr={hist[-1][0]:.2e} loss={hist[-1][1]:.3f}",
          Chosen_lr=f"{lr:.2e}", Note="probe model discarded; real run starts from fresh weights")

    mx.random.seed(0)
    model = TileNet()
    stem0 = np.array(model.stem.weight)
    opt = optim.SGD(learning_rate=lr, momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)

    # gradient audit on the first real batch
    loss0, g0 = vg(model, xtr[:64], ytr[:64])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.max(mx.abs(v)).item()) == 0.0]
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    block(Phase="gradient-check", Trainable_leaves=len(leaves), Zero_grad_leaves=zero or "none",
          Trainable_params=n_train, Frozen_params=n_all - n_train,
          Initial_loss=f"{loss0.item():.4f}", Log_9=f"{math.log(9):.4f}",
          Test_accuracy=f"{accuracy(model, xte, yte):.1f}%")

    rng = np.random.default_rng(11)
    bs, epochs = 64, 6
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0] - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        block(Phase="train", Epoch=f"{ep}/{epochs}", Mean_train_loss=f"{tot / nb:.4f}",
              Test_accuracy=f"{accuracy(model, xte, yte):.1f}%",
              Elapsed=f"{time.time() - t0:.1f}s")

    drift = float(np.abs(np.array(model.stem.weight) - stem0).max())
    block(Phase="done", Stem_max_drift=f"{drift:.1e}",
          Final_test_accuracy=f"{accuracy(model, xte, yte):.1f}%")


if __name__ == "__main__":
    main()
