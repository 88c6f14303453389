# Texture synthesis by Gram-matrix matching (Gatys-style, tiny): a fixed random
# two-scale conv feature extractor, a target texture made of oriented stripes and
# dots, and a trainable canvas (the only parameter) optimised with Adam so that
# its feature Gram matrices match the target's.  Progress is printed like
# `git log --oneline`, one "commit" per checkpoint.
import hashlib
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H = W = 40
rng = np.random.default_rng(5)


def target_texture():
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin(0.9 * xx + 0.45 * yy)
    dots = np.zeros((H, W), np.float32)
    for _ in range(30):
        cy, cx = rng.integers(0, H), rng.integers(0, W)
        dots += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 3.0)
    img = 0.7 * stripes + 0.6 * np.clip(dots, 0, 1)
    img = (img - img.mean()) / img.std()
    return img[None, :, :, None]  # NHWC


class Canvas(nn.Module):
    def __init__(self):
        super().__init__()
        self.pixels = mx.array(rng.normal(scale=0.1, size=(1, H, W, 1)).astype(np.float32))
        # fixed random filters: leading underscore keeps them out of parameters()
        self._f1 = mx.array(rng.normal(size=(16, 5, 5, 1)).astype(np.float32) / 5.0)
        self._f2 = mx.array(rng.normal(size=(24, 3, 3, 16)).astype(np.float32) / 12.0)

    def features(self, img):
        a = nn.relu(mx.conv2d(img, self._f1, padding=2))
        b = nn.relu(mx.conv2d(a[:, ::2, ::2, :], self._f2, padding=1))  # stride-2 subsample
        return [a, b]


def gram(f):
    n, h, w, c = f.shape
    flat = f.reshape(h * w, c)
    return (flat.T @ flat) / (h * w)


def main():
    mx.random.seed(0)
    canvas = Canvas()
    target = mx.array(target_texture())
    target_grams = [gram(f) for f in canvas.features(target)]
    target_mean = mx.mean(target)
    mx.eval(target_grams)

    def loss_fn(model):
        feats = model.features(model.pixels)
        style = sum(mx.mean((gram(f) - g) ** 2) / mx.mean(g**2) for f, g in zip(feats, target_grams))
        # keep intensities in the target's range (mean/variance match)
        stats = (mx.mean(model.pixels) - target_mean) ** 2 + (mx.var(model.pixels) - 1.0) ** 2
        return style + 0.1 * stats, style

    iters = 900
    sched = optim.cosine_decay(0.05, iters, end=0.005)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(canvas, loss_fn)

    # gradient sanity check before training
    (_, s0), g0 = vg(canvas)
    norms = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g0)}
    print("# leaves:", ", ".join(f"{k} max|g|={v:.2e}" for k, v in norms.items()))

    state = [canvas.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step():
        (loss, style), grads = vg(canvas)
        opt.update(canvas, grads)
        return loss, style

    first = None
    t0 = time.time()
    for it in range(1, iters + 1):
        loss, style = step()
        mx.eval(state, loss, style)
        if first is None:
            first = style.item()
        if it % 75 == 0 or it == 1:
            sha = hashlib.sha1(f"{it}-{style.item():.6f}".encode()).hexdigest()[:7]
            ratio = style.item() / first
            px = np.array(canvas.pixels)
            print(f"{sha} step {it:04d}: gram_loss {style.item():.4e} (x{ratio:.1e} of step 1), "
                  f"pixels mean {px.mean():+.2f} std {px.std():.2f}")
    print(f"# {iters} steps in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
