"""Fit a small grayscale "portrait" with a coordinate MLP (NeRF-style positional
encoding), trained pixel-batch by pixel-batch.  Prints mean MSE / PSNR per epoch."""
import math
import time

import numpy as onp
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H = W = 32
N_FREQS = 6


def make_portrait(h, w):
    yy, xx = onp.meshgrid(onp.linspace(-1, 1, h), onp.linspace(-1, 1, w), indexing="ij")
    face = onp.exp(-((xx / 0.55) ** 2 + (yy / 0.7) ** 2) * 2.0)
    eyes = onp.exp(-(((xx - 0.22) ** 2 + (yy + 0.2) ** 2) / 0.006)) + onp.exp(
        -(((xx + 0.22) ** 2 + (yy + 0.2) ** 2) / 0.006))
    mouth = onp.exp(-(((yy - 0.35) ** 2) / 0.004)) * (onp.abs(xx) < 0.25)
    img = 0.15 + 0.7 * face - 0.5 * eyes - 0.35 * mouth + 0.08 * onp.sin(6 * xx)
    img = onp.clip(img, 0.0, 1.0).astype(onp.float32)
    return mx.array(img[..., None])  # [H, W, 1]


def get_embedder(n_freqs):
    bands = 2.0 ** onp.arange(n_freqs) * math.pi

    def embed(x):
        x = x.astype(mx.float32)
        feats = [x]
        for f in bands:
            feats += [mx.sin(f * x), mx.cos(f * x)]
        return mx.concatenate(feats, axis=-1)

    return embed, lambda d: d * (1 + 2 * n_freqs)


class PixelNeRF(nn.Module):
    def __init__(self, channel_input, width=96, depth=4, channel_output=1):
        super().__init__()
        dims = [channel_input] + [width] * depth
        self.layers = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.output_linear = nn.Linear(width, channel_output)

    def __call__(self, x):
        for layer in self.layers:
            x = nn.relu(layer(x))
        return self.output_linear(x)


def batch_iterate(batch_size, X, y):
    assert X.shape == y.shape
    rows, cols = onp.meshgrid(onp.arange(y.shape[0]), onp.arange(y.shape[1]), indexing="ij")
    coords = onp.stack([rows.reshape(-1), cols.reshape(-1)], axis=-1)
    choice = onp.random.permutation(coords.shape[0])
    for s in range(0, coords.shape[0], batch_size):
        sel = coords[choice[s : s + batch_size]]
        r, c = mx.array(sel[:, 0]), mx.array(sel[:, 1])
        X_batch = X[r, c]
        y_batch = y[r, c]
        yield X_batch, y_batch


def main():
    onp.random.seed(0)
    mx.random.seed(0)
    img_gt = make_portrait(H, W)
    img_pred = mx.random.uniform(shape=img_gt.shape)  # canvas shown in the viewer

    embed, embed_dim = get_embedder(N_FREQS)
    probe_x, _ = next(batch_iterate(8, img_pred, img_gt))
    model = PixelNeRF(channel_input=embed_dim(probe_x.shape[-1]))
    mx.eval(model.parameters())

    def mse(model, x, y):
        x = x.astype(mx.float32) / (H - 1) * 2.0 - 1.0 if x.dtype != mx.float32 else x
        return mx.mean((model(embed(x)) - y) ** 2)

    loss_and_grad = nn.value_and_grad(model, mse)
    optimizer = optim.Adam(learning_rate=2e-3)

    var = mx.var(img_gt).item()
    print(f"target variance (predict-the-mean MSE) = {var:.5f}")
    t0 = time.time()
    for epoch in range(1, 61):
        total, n = 0.0, 0
        for X, y in batch_iterate(64, img_pred, img_gt):
            loss, grads = loss_and_grad(model, X, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            total += loss.item() * y.shape[0]
            n += y.shape[0]
        m = total / n
        if epoch == 1 or epoch % 10 == 0:
            print(f"[epoch {epoch:02d}] mse={m:.5f} psnr={-10 * math.log10(m):.2f}dB ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
