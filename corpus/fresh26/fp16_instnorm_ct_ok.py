"""Tiny fp16 segmentation net on synthetic CT slices (raw Hounsfield units).

Conv -> InstanceNorm -> ReLU blocks written by hand, whole model in float16
to halve memory, Adam, pixel-wise BCE on a lesion mask.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("ctseg")


class InstanceNorm2d(nn.Module):
    """Per-sample, per-channel normalisation over H, W (channels-last)."""

    def __init__(self, eps=1e-5):
        super().__init__()
        self.eps = eps

    def __call__(self, x):
        xf = x.astype(mx.float32)  # statistics in float32, output back in x.dtype
        mean = mx.mean(xf, axis=(1, 2), keepdims=True)
        var = mx.var(xf, axis=(1, 2), keepdims=True)
        return ((xf - mean) * mx.rsqrt(var + self.eps)).astype(x.dtype)


class SegNet(nn.Module):
    def __init__(self, ch=8):
        super().__init__()
        self.c1 = nn.Conv2d(1, ch, 3, padding=1)
        self.n1 = InstanceNorm2d()
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.n2 = InstanceNorm2d()
        self.head = nn.Conv2d(ch, 1, 1)

    def __call__(self, x):
        x = nn.relu(self.n1(self.c1(x)))
        x = nn.relu(self.n2(self.c2(x)))
        return self.head(x)


def make_batch(n, size=32):
    """Air/soft-tissue background with one bright lesion disc per slice."""
    yy, xx = mx.meshgrid(mx.arange(size), mx.arange(size), indexing="ij")
    cy = mx.random.randint(8, size - 8, (n, 1, 1))
    cx = mx.random.randint(8, size - 8, (n, 1, 1))
    r = mx.random.randint(3, 7, (n, 1, 1))
    mask = (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(mx.float32)
    body = mx.where(xx < 4, -1000.0, 40.0)           # a strip of air at the edge
    img = body + 180.0 * mask + 25.0 * mx.random.normal((n, size, size))
    return img[..., None].astype(mx.float16), mask[..., None].astype(mx.float16)


def main():
    mx.random.seed(11)
    model = SegNet()
    model.set_dtype(mx.float16)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3, eps=1e-4)  # 1e-8 underflows in fp16

    def loss_fn(m, x, y):
        logits = m(x)
        return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    xv, yv = make_batch(64)
    t0 = time.time()
    for step in range(1, 161):
        x, y = make_batch(16)
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step in (1, 2, 3, 5, 10):
            pred = (model(xv) > 0).astype(mx.float16)
            inter = mx.sum(pred * yv)
            dice = (2 * inter / (mx.sum(pred) + mx.sum(yv) + 1e-3)).item()
            log.info("step %d loss %.4f val_dice %.3f (%.1fs)", step, loss.item(), dice, time.time() - t0)
    log.info("finished")


if __name__ == "__main__":
    main()
