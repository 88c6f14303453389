import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ResidualEncoderBlock(nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()

        self.conv1 = nn.Conv2d(input_dim, output_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(output_dim, output_dim, kernel_size=3, padding=1)
        self.relu = nn.ReLU()
        self.project = nn.Conv2d(input_dim, output_dim, kernel_size=1)

    def __call__(self, x):
        identity = x
        x = self.relu(self.conv1(x))
        x = self.conv2(x)
        x = self.relu(self.project(identity) + x)
        return x


class EncoderBlock(nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()

        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size=3, padding=1)
        self.relu = nn.ReLU()

    def __call__(self, x):
        return self.relu(self.conv(x))


class Encoder(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, num_layers: int):
        super().__init__()

        dims = np.geomspace(64, output_dim, num_layers)
        dims = [math.ceil(dim) for dim in dims]

        layers = []
        layers.append(EncoderBlock(input_dim, 64))
        for idx in range(len(dims) - 1):
            layers.append(ResidualEncoderBlock(dims[idx], dims[idx + 1]))

        self.layers = layers

    def __call__(self, x):
        skip = []
        for layer in self.layers:
            x = layer(x)
            skip.append(x)

        return x, skip


class Decoder(nn.Module):
    def __init__(self, input_dim: int, output_dim: int, num_layers: int):
        super().__init__()

        dims = np.geomspace(input_dim, 64, num_layers).tolist()
        dims = [math.ceil(dim) for dim in dims]

        layers = []
        for idx in range(len(dims) - 1):
            layers.extend([nn.ConvTranspose2d(dims[idx], dims[idx + 1], kernel_size=4, stride=2, padding=1), nn.ReLU()])

        layers.extend([nn.ConvTranspose2d(dims[-1], output_dim, kernel_size=4, stride=2, padding=1), nn.ReLU()])
        self.layers = nn.Sequential(*layers)

    def __call__(self, x):
        return self.layers(x)


class SuperResolution(nn.Module):
    def __init__(self, input_dim, num_encoder_layers, num_decoder_layers, output_dim, latent_dim):
        super().__init__()

        self.encoder = Encoder(input_dim, latent_dim, num_encoder_layers)
        self.decoder = Decoder(latent_dim, output_dim, num_decoder_layers)

    def __call__(self, x):
        x, _ = self.encoder(x)
        x = self.decoder(x)
        return x


# ---- synthetic glaze-tile photos: smooth colour fields + a few crackle lines ----
def make_tiles(n, size, rng):
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    out = np.zeros((n, size, size, 3), dtype=np.float32)
    for i in range(n):
        img = np.zeros((size, size, 3), dtype=np.float32)
        for c in range(3):
            base = rng.uniform(0.2, 0.6)
            for _ in range(3):
                fx, fy = rng.uniform(0.5, 3.0, size=2)
                ph = rng.uniform(0, 2 * np.pi)
                img[..., c] += base / 3 + 0.12 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
        for _ in range(2):
            a, b = rng.uniform(-1.5, 1.5), rng.uniform(0, 1)
            line = np.abs(yy - (a * xx + b)) < 0.03
            img[line] *= 0.55
        out[i] = np.clip(img, 0.0, 1.0)
    return out


def downsample(hr, f):
    n, h, w, c = hr.shape
    return hr.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))


def psnr(mse):
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    hr_size, factor = 16, 4
    hr_train = make_tiles(256, hr_size, rng)
    hr_val = make_tiles(64, hr_size, rng)
    lr_train, lr_val = downsample(hr_train, factor), downsample(hr_val, factor)
    near_val = lr_val.repeat(factor, axis=1).repeat(factor, axis=2)
    near_mse = float(np.mean((near_val - hr_val) ** 2))
    print(f"tiles: train {len(hr_train)}  val {len(hr_val)}  {lr_train.shape[1]}x{lr_train.shape[1]} -> {hr_size}x{hr_size}")
    print(f"nearest-neighbour upscale: val mse {near_mse:.5f}  psnr {psnr(near_mse):.2f} dB")

    model = SuperResolution(input_dim=3, num_encoder_layers=2, num_decoder_layers=2, output_dim=3, latent_dim=40)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=1e-3)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    Xv, Yv = mx.array(lr_val), mx.array(hr_val)
    batch = 8
    t0 = time.time()
    for epoch in range(1, 7):
        perm = rng.permutation(len(lr_train))
        total, nb = 0.0, 0
        for s in range(0, len(perm), batch):
            idx = mx.array(perm[s:s + batch])
            x, y = mx.array(lr_train)[idx], mx.array(hr_train)[idx]
            loss, grads = loss_and_grad(model, x, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            total += loss.item()
            nb += 1
        val = nn.losses.mse_loss(model(Xv), Yv).item()
        print(f"epoch {epoch}  train mse {total / nb:.5f}  val mse {val:.5f}  psnr {psnr(val):.2f} dB  ({time.time() - t0:.1f}s)")
    print(f"final: val psnr {psnr(val):.2f} dB vs nearest {psnr(near_mse):.2f} dB")


if __name__ == "__main__":
    main()
