# Fit a small coordinate MLP (NeRF-style positional encoding) to an RGB image.
import math
import numpy as onp
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_inkling(size=24):
    # synthetic RGBA "png": colored rings on a gradient, H x W x 4 uint8
    yy, xx = onp.mgrid[0:size, 0:size] / (size - 1)
    r = onp.sqrt((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    red = 0.5 + 0.5 * onp.sin(12 * r)
    green = xx
    blue = 1.0 - yy
    alpha = onp.ones_like(xx)
    img = onp.stack([red, green, blue, alpha], axis=-1)
    return (img * 255).astype(onp.uint8)


def load_mx_img_gt(img_np):
    """Returns an mx.array in [B=1, C=3, H, W] layout."""
    img_gt = mx.array(img_np)
    if len(img_gt.shape) == 3:
        img_gt = mx.transpose(img_gt, -1, 0)
    if len(img_gt.shape) == 2:
        img_gt = mx.repeat(img_gt[None, ...], repeats=3, axis=0)
    if img_gt.shape[0] == 4:
        img_gt = img_gt[:3, ...]
    assert img_gt.shape[0] == 3
    img_gt = img_gt[None, ...]
    return img_gt.astype(mx.float32) / 255.0


def embed(x, n_freqs=6):
    freqs = 2.0 ** mx.arange(n_freqs).astype(mx.float32)
    xs = (math.pi * x)[..., None] * freqs
    xs = xs.reshape(x.shape[0], -1)
    return mx.concatenate([x, mx.sin(xs), mx.cos(xs)], axis=-1)


class PixelField(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.layers = [nn.Linear(d_in, width), nn.Linear(width, width), nn.Linear(width, 3)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.relu(l(x))
        return mx.sigmoid(self.layers[-1](x))


def main():
    mx.random.seed(3)
    img_gt = load_mx_img_gt(make_inkling())
    _, C, H, W = img_gt.shape
    ys, xs = mx.meshgrid(mx.linspace(-1, 1, H), mx.linspace(-1, 1, W), indexing="ij")
    coords = mx.stack([xs.reshape(-1), ys.reshape(-1)], axis=-1)
    target = img_gt[0].reshape(C, -1).T  # [H*W, 3]

    model = PixelField(2 + 2 * 2 * 6)
    mx.eval(model.parameters())

    def mse(model, x, y):
        return mx.mean((model(embed(x)) - y) ** 2)

    loss_and_grad = nn.value_and_grad(model, mse)
    optimizer = optim.Adam(learning_rate=1e-2, betas=(0.9, 0.99))

    n = coords.shape[0]
    for it in range(400):
        idx = mx.random.permutation(n)[:192]
        loss, grads = loss_and_grad(model, coords[idx], target[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 50 == 0 or it == 399:
            full = mse(model, coords, target)
            psnr = -10.0 * math.log10(full.item())
            print(f"iter {it:4d}  batch_mse {loss.item():.5f}  psnr {psnr:.2f} dB")


if __name__ == "__main__":
    main()
