"""Loom camera: classify 16x16 fabric patches as clean / hole / slub.

A fixed edge-filter stem (box blur, Sobel x, Sobel y, Laplacian) is loaded by hand and
frozen on purpose; two conv blocks (with max-pooling) train on top of it, each run
through gradient checkpointing to keep activation memory flat. Progress is a bar that
is redrawn in place; the epoch summary line reports the miss rate on validation
(defective patches the model calls clean, lower is better). After training, a longer
test-time-augmentation pass (4 flips) scores the test set.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ("clean", "hole", "slub")
S = 16


def weave(rng, n):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    px = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    py = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    period = rng.uniform(2.5, 3.5, (n, 1, 1))
    base = 0.5 + 0.2 * np.sin(2 * np.pi * xx / period + px) * np.sin(2 * np.pi * yy / period + py)
    base = base + rng.uniform(-0.1, 0.1, (n, 1, 1))
    return base


def make_patches(n, rng):
    imgs = weave(rng, n)
    labels = rng.integers(0, 3, n)
    yy, xx = np.mgrid[0:S, 0:S]
    for i in range(n):
        if labels[i] == 1:            # hole: dark round blob
            cy, cx = rng.integers(3, S - 3, 2)
            r = rng.uniform(1.3, 2.6)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            imgs[i][mask] = rng.uniform(0.0, 0.15)
        elif labels[i] == 2:          # slub: thick bright horizontal run
            cy = rng.integers(2, S - 3)
            x0 = rng.integers(0, S - 8)
            ln = rng.integers(5, 9)
            imgs[i, cy:cy + 2, x0:x0 + ln] += rng.uniform(0.35, 0.55)
    imgs = imgs + rng.normal(0, 0.12, imgs.shape)
    return imgs[..., None].astype(np.float32), labels.astype(np.int32)


def edge_bank():
    box = np.full((3, 3), 1 / 9)
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 4
    sy = sx.T
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]) / 4
    k = np.stack([box, sx, sy, lap])              # (out=4, 3, 3)
    return mx.array(k[..., None].astype(np.float32))  # (4, 3, 3, 1) NHWC weight layout


class PatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.stem.weight = edge_bank()
        self.block1 = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(64, 3)
        self.stem.freeze()            # hand-designed filters stay fixed
        self._b1 = nn.utils.checkpoint(self.block1)
        self._b2 = nn.utils.checkpoint(self.block2)

    def __call__(self, x):
        h = mx.abs(self.stem(x))
        h = self._b2(self._b1(h))
        pooled = mx.concatenate([h.mean(axis=(1, 2)), h.max(axis=(1, 2))], axis=-1)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def predict(model, x, chunk=500):
    out = []
    for i in range(0, x.shape[0], chunk):
        out.append(model(x[i:i + chunk]))
    return mx.concatenate(out)


def rates(logits, y):
    pred = mx.argmax(logits, axis=1)
    acc = 100.0 * mx.mean(pred == y).item()
    defective = y != 0
    missed = mx.sum(mx.logical_and(defective, pred == 0)).item()
    miss = 100.0 * missed / max(1, mx.sum(defective).item())
    return acc, miss


def bar(done, total, loss_avg, width=30):
    k = int(width * done / total)
    sys.stdout.write(f"\r  [{'=' * k}{'.' * (width - k)}] {done:4d}/{total} ce {loss_avg:.4f}")
    sys.stdout.flush()


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_patches(2400, rng)
    xva, yva = make_patches(600, rng)
    xte, yte = make_patches(1200, rng)
    xtr, ytr, xva, yva, xte, yte = map(mx.array, (xtr, ytr, xva, yva, xte, yte))
    print(f"patches: train {xtr.shape[0]}  val {xva.shape[0]}  test {xte.shape[0]}  "
          f"classes {', '.join(CLASSES)}")

    model = PatchNet()
    mx.eval(model.parameters())
    stem_before = np.array(model.stem.weight)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"parameters: {n_train} trainable of {n_all} (edge stem frozen)")

    batch, epochs = 50, 8
    lr = optim.cosine_decay(3e-3, epochs * (xtr.shape[0] // batch), end=1e-4)
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, xtr[:batch], ytr[:batch])
    flat = tree_flatten(g0)
    nz = [k for k, v in flat if mx.max(mx.abs(v)).item() == 0.0]
    print(f"first-step gradients: {len(flat)} leaves, zero leaves: {nz if nz else 'none'}")

    acc0, miss0 = rates(predict(model, xva), yva)
    print(f"epoch 0/{epochs}  untrained  val acc {acc0:.1f}%  val miss-rate {miss0:.1f}%")

    steps = xtr.shape[0] // batch
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run = 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            if (s + 1) % 6 == 0 or s + 1 == steps:
                bar(s + 1, steps, run / (s + 1))
        acc, miss = rates(predict(model, xva), yva)
        sys.stdout.write("\n")
        print(f"epoch {ep}/{epochs}  train ce {run / steps:.4f}  val acc {acc:.1f}%  "
              f"val miss-rate {miss:.1f}%  lr {lr(opt.step).item():.2e}  "
              f"{time.perf_counter() - t0:.1f}s")

    # test-time augmentation: average logits over the four flips (slow, silent)
    views = [xte, xte[:, :, ::-1, :], xte[:, ::-1, :, :], xte[:, ::-1, ::-1, :]]
    plain = predict(model, xte)
    tta = sum(predict(model, v) for v in views) / len(views)
    pa, pm = rates(plain, yte)
    ta, tm = rates(tta, yte)
    drift = float(np.abs(np.array(model.stem.weight) - stem_before).max())
    print(f"test  plain: acc {pa:.1f}%  miss-rate {pm:.1f}%")
    print(f"test  4-flip TTA: acc {ta:.1f}%  miss-rate {tm:.1f}%")
    print(f"done; edge stem max change {drift:.1e}")


if __name__ == "__main__":
    main()
