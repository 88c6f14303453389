"""Dune-crest segmentation on synthetic aerial tiles.

A small encoder / context-pyramid / decoder network trained with per-pixel
BCE.  Resizing uses a local copy of MLX's linear upsampling helpers so the
export script can reuse them without importing the training package.
Multi-scale schedule: tiles of 48 and 32 px first, then 24 px tiles join.
"""
import math
import operator
import time
from functools import reduce
from itertools import product

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


# ---- resize helpers (vendored from mlx.nn.layers.upsample) -----------------
def _scaled_indices(N, scale, align_corners, dim, ndims):
    M = int(scale * N)
    if align_corners:
        indices = mx.arange(M, dtype=mx.float32) * ((N - 1) / max(M - 1, 1))
    else:
        step = 1 / scale
        start = ((M - 1) * step - N + 1) / 2
        indices = mx.arange(M, dtype=mx.float32) * step - start

    shape = [1] * ndims
    shape[dim] = -1

    return indices.reshape(shape)


def _linear_indices(N, scale, align_corners, dim, ndims):
    indices = _scaled_indices(N, scale, align_corners, dim, ndims)
    indices = mx.clip(indices, a_min=0, a_max=N - 1)
    indices_l = mx.floor(indices)
    indices_r = mx.ceil(indices)
    weight = indices - indices_l
    weight = mx.expand_dims(weight, -1)

    return (
        (indices_l.astype(mx.uint32), 1 - weight),
        (indices_r.astype(mx.uint32), weight),
    )


def _interpolate(x, scale_factor, indices_fn, align_corners=False):
    dims = x.ndim - 2
    if dims != len(scale_factor):
        raise ValueError("A scale needs to be provided for each spatial dimension")

    B, *N, C = x.shape

    indices = []
    for i, (n, s) in enumerate(zip(N, scale_factor)):
        indices.append(indices_fn(n, s, align_corners, i, dims))

    samples = []
    weights = []
    for idx_weight in product(*indices):
        idx, weight = zip(*idx_weight)
        samples.append(x[(slice(None),) + idx])
        weights.append(reduce(operator.mul, weight))

    return sum(wi * xi for wi, xi in zip(weights, samples))


def upsample_linear(x, scale_factor, align_corners=False):
    return _interpolate(
        x=x,
        scale_factor=scale_factor,
        indices_fn=_linear_indices,
        align_corners=align_corners,
    )


def resize_to(x, h, w):
    _, H, W, _ = x.shape
    return upsample_linear(x, (h / H, w / W), align_corners=True)


# ---- data -------------------------------------------------------------------
def make_tiles(n, size, rng):
    yy, xx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    imgs = np.zeros((n, size, size, 1), np.float32)
    masks = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        amp = rng.uniform(0.08, 0.2) * size
        freq = rng.uniform(1.0, 2.5) * 2 * math.pi / size
        phase = rng.uniform(0, 2 * math.pi)
        base = rng.uniform(0.35, 0.65) * size
        crest = base + amp * np.sin(freq * xx + phase)
        m = (yy < crest).astype(np.float32)
        shade = 0.6 * m + 0.15 * (xx / size) + rng.normal(0, 0.25, (size, size))
        imgs[i, :, :, 0] = shade
        masks[i, :, :, 0] = m
    return mx.array(imgs), mx.array(masks)


# ---- model ------------------------------------------------------------------
class ConvBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm = nn.GroupNorm(4, cout, pytorch_compatible=True)

    def __call__(self, x):
        return nn.relu(self.norm(self.conv(x)))


class DuneNet(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.enc1 = ConvBlock(1, width, 2)
        self.enc2 = ConvBlock(width, width, 2)
        self.enc3 = ConvBlock(width, width, 2)
        self.ctx = nn.Conv2d(width, width, 1)
        self.fuse = ConvBlock(2 * width, width, 1)
        self.skip = nn.Conv2d(width, width, 1)
        self.head = nn.Conv2d(width, 1, 3, padding=1)

    def __call__(self, x):
        _, H, W, _ = x.shape
        f1 = self.enc1(x)
        f3 = self.enc3(self.enc2(f1))
        h, w = f3.shape[1:3]
        # half-resolution context branch of the pyramid
        c = resize_to(f3, h // 2, w // 2)
        c = nn.relu(self.ctx(c))
        c = resize_to(c, h, w)
        y = self.fuse(mx.concatenate([f3, c], axis=-1))
        y = resize_to(y, f1.shape[1], f1.shape[2]) + self.skip(f1)
        logits = self.head(nn.relu(y))
        return resize_to(logits, H, W)


def loss_fn(model, x, m):
    logits = model(x)
    return nn.losses.binary_cross_entropy(logits, m, with_logits=True, reduction="mean")


def evaluate(model, x, m):
    logits = model(x)
    pred = (logits > 0).astype(mx.float32)
    acc = mx.mean(pred == m).item()
    inter = mx.sum(pred * m).item()
    union = mx.sum(mx.maximum(pred, m)).item()
    return acc, inter / max(union, 1.0)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    sizes_early = [48, 32]
    sizes_late = [48, 32, 24]
    train = {s: make_tiles(160, s, rng) for s in sizes_late}
    val_x, val_m = make_tiles(64, 32, rng)
    base_acc = max(mx.mean(val_m).item(), 1 - mx.mean(val_m).item())
    print(f"val majority-class pixel acc baseline: {base_acc:.3f}  IoU baseline: {mx.mean(val_m).item():.3f}")

    model = DuneNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    bs = 16
    t0 = time.time()
    step = 0
    for epoch in range(1, 9):
        sizes = sizes_early if epoch <= 3 else sizes_late
        order = [(s, i) for s in sizes for i in range(0, 160, bs)]
        rng.shuffle(order)
        tot, n = 0.0, 0
        for s, i in order:
            x, m = train[s]
            loss, grads = step_fn(model, x[i:i + bs], m[i:i + bs])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            n += 1
            step += 1
            if step % 20 == 0:
                print(f"  step {step:4d}  tile {s}px  loss {loss.item():.4f}")
        acc, iou = evaluate(model, val_x, val_m)
        print(f"epoch {epoch}  sizes {sizes}  train_bce {tot / n:.4f}  val_acc {acc:.3f}  val_iou {iou:.3f}  ({time.time() - t0:.1f}s)")
    print(f"final val_iou {iou:.3f} (baseline {mx.mean(val_m).item():.3f})")


if __name__ == "__main__":
    main()
