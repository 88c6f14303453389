# Fit a small synthetic RGB image with a coordinate MLP and sinusoidal (NeRF Eq. 4) encoding.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Encoding(nn.Module):
    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim


class SinusoidalEncoding(Encoding):
    def __init__(self, in_dim, n_freqs, min_freq, max_freq, is_include_input=False):
        super().__init__(in_dim)
        self.n_freqs = n_freqs
        self.min_freq = min_freq if min_freq else 0
        self.max_freq = max_freq
        self.is_include_input = is_include_input

    def get_out_dim(self):
        out_dim = self.in_dim * self.n_freqs * len([mx.sin, mx.cos])
        if self.is_include_input:
            out_dim += self.in_dim
        return out_dim

    def forward(self, in_array: mx.array):
        freq_bands = 2.0 ** mx.linspace(self.min_freq, self.max_freq, num=self.n_freqs)
        in_array_scaled = 2.0 * mx.pi * in_array
        in_array_scaled = in_array_scaled[..., None] * freq_bands  # [B, in_dim, n_freqs]
        in_array_scaled = mx.reshape(in_array_scaled, (in_array_scaled.shape[0], -1))
        out_encoded = mx.sin(mx.concatenate(
            [in_array_scaled, in_array_scaled + mx.pi / 2.0], axis=-1
        ))  # [B, 2 * in_dim * n_freqs]

        if self.is_include_input:
            out_encoded = mx.concatenate([out_encoded, in_array], axis=-1)

        return out_encoded


class PixelMLP(nn.Module):
    def __init__(self, encoder, width=64):
        super().__init__()
        self.encoder = encoder
        self.l1 = nn.Linear(encoder.get_out_dim(), width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 3)

    def __call__(self, xy):
        h = self.encoder.forward(xy)
        h = nn.relu(self.l1(h))
        h = nn.relu(self.l2(h))
        return mx.sigmoid(self.out(h))


def make_image(H=32, W=32):
    ys, xs = mx.meshgrid(mx.linspace(0, 1, H), mx.linspace(0, 1, W), indexing="ij")
    r = 0.5 + 0.5 * mx.sin(6.0 * xs) * mx.cos(4.0 * ys)
    g = (((xs - 0.5) ** 2 + (ys - 0.5) ** 2) < 0.09).astype(mx.float32)
    b = xs * ys
    coords = mx.stack([xs, ys], axis=-1).reshape(-1, 2)
    rgb = mx.stack([r, g, b], axis=-1).reshape(-1, 3)
    return coords, rgb


def main():
    mx.random.seed(3)
    coords, rgb = make_image()
    enc = SinusoidalEncoding(in_dim=2, n_freqs=6, min_freq=0.0, max_freq=5.0, is_include_input=True)
    model = PixelMLP(enc)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    step_fn = nn.value_and_grad(model, loss_fn)
    n = coords.shape[0]
    t0 = time.time()
    for it in range(1, 601):
        idx = mx.random.randint(0, n, (256,))
        loss, grads = step_fn(model, coords[idx], rgb[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0:
            full = loss_fn(model, coords, rgb)
            psnr = -10.0 * math.log10(max(full.item(), 1e-10))
            print(f"[iter {it:4d}] mse={loss.item():.5f}  full-image psnr={psnr:.2f} dB  ({time.time() - t0:.1f}s)")
    print("done")


if __name__ == "__main__":
    main()
