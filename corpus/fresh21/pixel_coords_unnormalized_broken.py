"""Fit a 400x400 grayscale image with a NeRF-style coordinate MLP (positional encoding)."""
import time

import numpy as onp
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H = W = 400


def make_image():
    yy, xx = onp.meshgrid(onp.linspace(-1, 1, H), onp.linspace(-1, 1, W), indexing="ij")
    img = 0.5 + 0.25 * onp.sin(3 * xx) * onp.cos(2 * yy) + 0.2 * ((xx**2 + yy**2) < 0.4)
    return mx.array(onp.clip(img, 0, 1).astype(onp.float32))


class Embedder:
    def __init__(self, n_freqs, input_dims=2):
        self.funcs = [lambda x: x]  # include_input
        self.out_dim = input_dims
        freq_bands = mx.linspace(0.0, n_freqs - 1, num=n_freqs) ** 2.0
        for freq in freq_bands.tolist():
            for fn in (mx.sin, mx.cos):
                self.funcs.append(lambda x, fn=fn, freq=freq: fn(x * freq))
                self.out_dim += input_dims

    def __call__(self, x):
        return mx.concatenate([f(x) for f in self.funcs], axis=-1)


class CoordMLP(nn.Module):
    def __init__(self, channel_input, n_layers=6, width=128, skips=(3,), channel_output=1):
        super().__init__()
        self.skips = skips
        self.linears = [nn.Linear(channel_input, width)] + [
            nn.Linear(width + channel_input if i in skips else width, width)
            for i in range(1, n_layers)
        ]
        self.output_linear = nn.Linear(width, channel_output)

    def __call__(self, x):
        h = x
        for i, layer in enumerate(self.linears):
            if i in self.skips:
                h = mx.concatenate([x, h], axis=-1)
            h = nn.relu(layer(h))
        return self.output_linear(h)


def batch_iterate(batch_size, img, n_batches):
    coords = onp.stack(onp.meshgrid(onp.arange(H), onp.arange(W), indexing="ij"), -1).reshape(-1, 2)
    perm = onp.random.permutation(coords.shape[0])
    for b in range(n_batches):
        sel = coords[perm[b * batch_size : (b + 1) * batch_size]]
        yield mx.array(sel.astype(onp.float32)), img[mx.array(sel[:, 0]), mx.array(sel[:, 1])][:, None]


def main():
    onp.random.seed(0)
    mx.random.seed(0)
    img_gt = make_image()
    embed = Embedder(10, input_dims=2)
    model = CoordMLP(channel_input=embed.out_dim)
    mx.eval(model.parameters())

    def mlx_mse(model, x, y):
        x_embedded = embed(x)
        return mx.mean((model(x_embedded) - y) ** 2)

    loss_and_grad_fn = nn.value_and_grad(model, mlx_mse)
    optimizer = optim.SGD(learning_rate=0.01)

    t0 = time.time()
    for idx_iter in range(12):
        loss_mse, n_batch = 0.0, 0
        for X, y in batch_iterate(512, img_gt, n_batches=10):
            loss, grads = loss_and_grad_fn(model, X, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            loss_mse += loss.item()
            n_batch += 1
        print(f"[DEBUG] #iter={idx_iter} ... \t loss = {loss_mse / n_batch}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
