import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

LR_SIZE, SCALE = 12, 1.5
HR_SIZE = int(LR_SIZE * SCALE)


def _scaled_indices(N, scale, align_corners, dim, ndims):
    M = int(scale * N)
    if align_corners:
        indices = mx.arange(M, dtype=mx.float32) * ((N - 1) / (M - 1))
    else:
        step = 1 / scale
        start = ((M - 1) * step - N + 1) / 2
        indices = mx.arange(M, dtype=mx.float32) * step - start
    shape = [1] * ndims
    shape[dim] = -1
    return indices.reshape(shape)


def _nearest_indices(N, scale, dim, ndims):
    M = int(scale * N)
    indices = mx.arange(M, dtype=mx.float32)
    if M > N:
        indices = (indices + 0.5) * (N / M) - 0.5
        indices = indices.round()
    else:
        indices = indices * (N / M)
    shape = [1] * ndims
    shape[dim] = -1
    return indices.astype(mx.uint32).reshape(shape)


def resize_nearest(x, scale):
    B, H, W, C = x.shape
    rows = _nearest_indices(H, scale, 0, 2)
    cols = _nearest_indices(W, scale, 1, 2)
    return x[:, rows, cols]


def render(rng, n, size):
    # smooth colour fields sampled at pixel centres of a size x size grid
    t = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(t, t, indexing="ij")
    out = np.zeros((n, size, size, 3), np.float32)
    for k in range(n):
        p = rng[k]
        for c in range(3):
            img = np.zeros_like(xx)
            for j in range(4):
                fx, fy, ph, a = p[c, j]
                img += a * np.sin(2 * math.pi * (fx * xx + fy * yy) + ph)
            out[k, :, :, c] = 0.5 + 0.25 * img
    return np.clip(out, 0.0, 1.0)


def make_set(seed, n):
    r = np.random.default_rng(seed)
    params = np.stack(
        [
            r.uniform(-3, 3, (n, 3, 4)),
            r.uniform(-3, 3, (n, 3, 4)),
            r.uniform(0, 2 * math.pi, (n, 3, 4)),
            r.uniform(0.1, 0.5, (n, 3, 4)),
        ],
        axis=-1,
    )
    return mx.array(render(params, n, LR_SIZE)), mx.array(render(params, n, HR_SIZE))


class Loupe(nn.Module):
    def __init__(self, width=12):
        super().__init__()
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = [nn.Conv2d(width, width, 3, padding=1) for _ in range(1)]
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def __call__(self, x):
        base = resize_nearest(x, SCALE)
        h = nn.silu(self.head(x))
        h = resize_nearest(h, SCALE)
        for conv in self.body:
            h = nn.silu(conv(h))
        return base + self.tail(h)


def psnr(pred, target):
    mse = mx.mean((mx.clip(pred, 0, 1) - target) ** 2)
    return (10 * mx.log10(1.0 / mse)).item()


def main():
    mx.random.seed(0)
    train_lr, train_hr = make_set(1, 384)
    val_lr, val_hr = make_set(2, 96)
    bilinear = nn.Upsample(scale_factor=SCALE, mode="linear", align_corners=False)
    print(f"val PSNR nearest resize: {psnr(resize_nearest(val_lr, SCALE), val_hr):.2f} dB")
    print(f"val PSNR bilinear      : {psnr(bilinear(val_lr), val_hr):.2f} dB")

    model = Loupe()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    step = nn.value_and_grad(model, loss_fn)
    bs, epochs = 16, 16
    t0 = time.time()
    for ep in range(epochs):
        perm = mx.array(np.random.default_rng(ep).permutation(train_lr.shape[0]))
        tot = 0.0
        for i in range(0, train_lr.shape[0], bs):
            idx = perm[i : i + bs]
            loss, grads = step(model, train_lr[idx], train_hr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        nb = train_lr.shape[0] // bs
        print(f"epoch {ep + 1:2d}  mse {tot / nb:.5f}  val PSNR {psnr(model(val_lr), val_hr):.2f} dB  ({time.time() - t0:.1f}s)")
    print(f"final val PSNR {psnr(model(val_lr), val_hr):.2f} dB")


if __name__ == "__main__":
    main()
