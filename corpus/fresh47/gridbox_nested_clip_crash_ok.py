"""Keypoint heatmap regressor: find the single bright dot in a 12x12 image.

Encoder-decoder conv net, soft-argmax readout, L1 loss on the (x, y)
coordinate.  Global-norm gradient clipping written by hand.
"""
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("kp")

H = W = 12


def sample_batch(rng, n):
    imgs = rng.normal(0.0, 0.15, size=(n, H, W, 1)).astype(np.float32)
    ys = rng.integers(1, H - 1, size=n)
    xs = rng.integers(1, W - 1, size=n)
    for i in range(n):
        imgs[i, ys[i] - 1:ys[i] + 2, xs[i] - 1:xs[i] + 2, 0] += 0.6
        imgs[i, ys[i], xs[i], 0] += 1.0
    coords = np.stack([xs, ys], axis=1).astype(np.float32) / (W - 1)
    return mx.array(imgs), mx.array(coords)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 12, 3, padding=1)
        self.c2 = nn.Conv2d(12, 12, 3, padding=1)

    def __call__(self, x):
        return nn.relu(self.c2(nn.relu(self.c1(x))))


class KeypointNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.heat = nn.Conv2d(12, 1, 1)
        gx, gy = np.meshgrid(np.linspace(0, 1, W), np.linspace(0, 1, H))
        self._grid = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))

    def __call__(self, x):
        h = self.heat(self.encoder(x)).reshape(x.shape[0], H * W)
        p = mx.softmax(h * 4.0, axis=-1)
        return p @ self._grid          # soft-argmax -> (n, 2) in [0, 1]


def train_step(model, batch, optimizer):
    imgs, coords = batch

    def loss_fn():
        return mx.mean(mx.abs(model(imgs) - coords))

    loss_grad_fn = nn.value_and_grad(model, loss_fn)
    loss_value, grads = loss_grad_fn()

    # Clip gradients - handle nested structure
    max_grad_norm = 1.0
    grad_norm = 0

    def compute_norm(g):
        if isinstance(g, dict):
            return sum(compute_norm(v) for v in g.values())
        return mx.sum(g * g)

    grad_norm = mx.sqrt(compute_norm(grads))
    clip_factor = mx.minimum(max_grad_norm / (grad_norm + 1e-6), 1.0)

    def clip_grads(g):
        if isinstance(g, dict):
            return {k: clip_grads(v) for k, v in g.items()}
        return g * clip_factor

    clipped_grads = clip_grads(grads)

    # Update model parameters
    optimizer.update(model, clipped_grads)
    mx.eval(model.parameters(), optimizer.state, loss_value, grad_norm)
    return loss_value.item(), grad_norm.item()


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    model = KeypointNet()
    optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
    val = sample_batch(rng, 256)

    steps = 900
    run = 0.0
    for step in range(1, steps + 1):
        loss, gnorm = train_step(model, sample_batch(rng, 32), optimizer)
        run = loss if step == 1 else 0.95 * run + 0.05 * loss
        if step in (1, 25, 50) or step % 100 == 0:
            vimgs, vcoords = val
            err_px = mx.mean(mx.abs(model(vimgs) - vcoords)).item() * (W - 1)
            log.info("step %4d  l1(ema) %.4f  grad_norm %.3f  val_err %.2f px", step, run, gnorm, err_px)
    log.info("done")


if __name__ == "__main__":
    main()
