"""Glaze-tile latent autoencoder: a tiny KL autoencoder (stable-diffusion style
encoder / quant_proj / post_quant_proj / decoder) trained on synthetic 16x16
kiln glaze tile images (crackle stripes, speckle, colour drift)."""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class AutoencoderConfig:
    in_channels = 3
    out_channels = 3
    latent_channels_out = 8
    latent_channels_in = 4
    block_out_channels = (8, 16)
    layers_per_block = 1
    norm_num_groups = 4
    scaling_factor = 0.18215


class ResnetBlock2D(nn.Module):
    def __init__(self, in_channels, out_channels, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, pytorch_compatible=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_channels, pytorch_compatible=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.conv_shortcut = nn.Linear(in_channels, out_channels)

    def __call__(self, x):
        y = self.conv1(nn.silu(self.norm1(x)))
        y = self.conv2(nn.silu(self.norm2(y)))
        if "conv_shortcut" in self:
            x = self.conv_shortcut(x)
        return x + y


class Encoder(nn.Module):
    def __init__(self, in_channels, out_channels, block_out_channels, layers_per_block, resnet_groups):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], 3, padding=1)
        chans = [block_out_channels[0]] + list(block_out_channels)
        self.down_blocks = []
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            blocks = [ResnetBlock2D(cin if j == 0 else cout, cout, resnet_groups) for j in range(layers_per_block)]
            down = nn.Conv2d(cout, cout, 3, stride=2, padding=1) if i < len(block_out_channels) - 1 else None
            self.down_blocks.append({"resnets": blocks, "down": down} if down is not None else {"resnets": blocks})
        self.mid = ResnetBlock2D(block_out_channels[-1], block_out_channels[-1], resnet_groups)
        self.conv_norm_out = nn.GroupNorm(resnet_groups, block_out_channels[-1], pytorch_compatible=True)
        self.conv_out = nn.Conv2d(block_out_channels[-1], out_channels, 3, padding=1)

    def __call__(self, x):
        x = self.conv_in(x)
        for blk in self.down_blocks:
            for r in blk["resnets"]:
                x = r(x)
            if "down" in blk:
                x = blk["down"](x)
        x = self.mid(x)
        x = nn.silu(self.conv_norm_out(x))
        return self.conv_out(x)


class Decoder(nn.Module):
    def __init__(self, in_channels, out_channels, block_out_channels, layers_per_block, resnet_groups):
        super().__init__()
        chans = list(reversed(block_out_channels))
        self.conv_in = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.mid = ResnetBlock2D(chans[0], chans[0], resnet_groups)
        self.up_blocks = []
        chans = chans + [chans[-1]]
        for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
            blocks = [ResnetBlock2D(cin if j == 0 else cout, cout, resnet_groups) for j in range(layers_per_block)]
            self.up_blocks.append({"resnets": blocks, "up": i < len(block_out_channels) - 1})
        self.upsample = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.conv_norm_out = nn.GroupNorm(resnet_groups, chans[-1], pytorch_compatible=True)
        self.conv_out = nn.Conv2d(chans[-1], out_channels, 3, padding=1)

    def __call__(self, x):
        x = self.conv_in(x)
        x = self.mid(x)
        for blk in self.up_blocks:
            for r in blk["resnets"]:
                x = r(x)
            if blk["up"]:
                x = self.upsample(x)
        x = nn.silu(self.conv_norm_out(x))
        return self.conv_out(x)


class Autoencoder(nn.Module):
    """The autoencoder that allows us to perform diffusion in the latent space."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()

        self.latent_channels = config.latent_channels_in
        self.scaling_factor = config.scaling_factor
        self.encoder = Encoder(
            config.in_channels,
            config.latent_channels_out,
            config.block_out_channels,
            config.layers_per_block,
            resnet_groups=config.norm_num_groups,
        )
        self.decoder = Decoder(
            config.latent_channels_in,
            config.out_channels,
            config.block_out_channels,
            config.layers_per_block + 1,
            resnet_groups=config.norm_num_groups,
        )

        self.quant_proj = nn.Linear(
            config.latent_channels_out, config.latent_channels_out
        )
        self.post_quant_proj = nn.Linear(
            config.latent_channels_in, config.latent_channels_in
        )

    def decode(self, z):
        return self.decoder(self.post_quant_proj(z))

    def __call__(self, x, key=None):
        x = self.encoder(x)
        x = self.quant_proj(x)

        mean, logvar = x.split(2, axis=-1)
        std = mx.exp(0.5 * logvar)
        z = mx.random.normal(mean.shape, key=key) * std + mean

        x_hat = self.decode(z)

        return dict(x_hat=x_hat, z=z, mean=mean, logvar=logvar)


def make_tiles(n, rng):
    """Synthetic glaze tiles in NHWC, values in [-1, 1]."""
    yy, xx = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    tiles = np.empty((n, 16, 16, 3), dtype=np.float32)
    for i in range(n):
        base = rng.uniform(-0.6, 0.6, size=3)
        angle = rng.uniform(0, math.pi)
        freq = rng.uniform(0.3, 0.9)
        stripes = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 6.28))
        amp = rng.uniform(0.1, 0.4)
        drift = rng.uniform(-0.3, 0.3) * (yy / 15.0 - 0.5)
        img = base[None, None, :] + amp * stripes[..., None] * np.array([1.0, 0.7, 0.4]) + drift[..., None]
        img += rng.normal(0, 0.03, size=img.shape)
        tiles[i] = np.clip(img, -1, 1)
    return tiles


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train = mx.array(make_tiles(384, rng))
    valid = mx.array(make_tiles(128, rng))

    model = Autoencoder(AutoencoderConfig())
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)
    kl_weight = 1e-3

    def loss_fn(model, x, key):
        out = model(x, key=key)
        rec = mx.mean((out["x_hat"] - x) ** 2)
        kl = -0.5 * mx.mean(1 + out["logvar"] - out["mean"] ** 2 - mx.exp(out["logvar"]))
        return rec + kl_weight * kl, (rec, kl)

    step_fn = nn.value_and_grad(model, loss_fn)
    baseline = mx.mean((valid - mx.mean(train, axis=0)) ** 2).item()
    print(f"valid mse of mean-tile baseline: {baseline:.4f}")

    batch = 32
    steps_per_epoch = train.shape[0] // batch
    key = mx.random.key(11)
    t0 = time.time()
    for epoch in range(1, 7):
        perm = mx.array(rng.permutation(train.shape[0]))
        tot, tot_rec, tot_kl = 0.0, 0.0, 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            key, sub = mx.random.split(key)
            (loss, (rec, kl)), grads = step_fn(model, train[idx], sub)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            tot_rec += rec.item()
            tot_kl += kl.item()
        out = model(valid, key=mx.random.key(0))
        vrec = mx.mean((out["x_hat"] - valid) ** 2).item()
        print(
            f"epoch {epoch} | loss {tot / steps_per_epoch:.4f} | rec {tot_rec / steps_per_epoch:.4f} "
            f"| kl {tot_kl / steps_per_epoch:.3f} | valid rec {vrec:.4f} | {time.time() - t0:.1f}s"
        )
    print(f"final valid rec {vrec:.4f} vs baseline {baseline:.4f}")


if __name__ == "__main__":
    main()
