"""Stage 1 VQGAN on small palette scenes (8x8), MLX, with a patch critic.

Two optimizers (autoencoder and patch discriminator), hinge losses,
checkpoint every few epochs, then reload the last checkpoint and compare.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten
import numpy as np

CONFIG = {
    "model": {"in_channels": 3, "hidden_channels": 32, "num_res_blocks": 1,
              "codebook_size": 64, "codebook_dim": 32},
    "training": {"batch_size": 8, "learning_rate": 1e-3, "num_epochs": 6,
                 "save_every": 2},
    "data": {"num_images": 128, "image_size": 8},
}

PALETTE = np.array([
    [0, 0, 0], [0, 0, 170], [0, 170, 0], [0, 170, 170],
    [170, 0, 0], [170, 0, 170], [170, 85, 0], [170, 170, 170],
    [85, 85, 255], [85, 255, 85], [255, 255, 85], [255, 255, 255],
], dtype=np.float32) / 255.0


def make_scenes(n, size, seed=0):
    """Blocky 4x4-cell scenes: sky band, ground band, a few objects."""
    rng = np.random.default_rng(seed)
    cells = size // 2
    out = np.zeros((n, 3, size, size), dtype=np.float32)
    for i in range(n):
        horizon = rng.integers(1, cells)
        sky, ground = rng.choice([1, 3, 8, 11]), rng.choice([2, 6, 9, 7])
        grid = np.where(np.arange(cells)[:, None] < horizon, sky, ground)
        grid = np.broadcast_to(grid, (cells, cells)).copy()
        for _ in range(rng.integers(1, 4)):
            r, c = rng.integers(0, cells, size=2)
            grid[r, c] = rng.integers(0, len(PALETTE))
        img = PALETTE[grid].repeat(2, axis=0).repeat(2, axis=1)  # (H, W, 3)
        out[i] = img.transpose(2, 0, 1) * 2.0 - 1.0
    return out


def create_dataloader(images, batch_size, shuffle=True):
    indices = np.arange(len(images))
    while True:
        if shuffle:
            np.random.shuffle(indices)
        for start in range(0, len(indices), batch_size):
            idx = indices[start:start + batch_size]
            if len(idx) < batch_size:
                continue
            yield mx.array(images[idx])


def nchw(f, x):
    x = mx.transpose(x, (0, 2, 3, 1))
    x = f(x)
    return mx.transpose(x, (0, 3, 1, 2))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.norm1 = nn.GroupNorm(8, channels)
        self.norm2 = nn.GroupNorm(8, channels)

    def _f(self, x):
        r = x
        x = self.conv1(nn.silu(self.norm1(x)))
        x = self.conv2(nn.silu(self.norm2(x)))
        return x + r

    def __call__(self, x):
        return nchw(self._f, x)


class Downsample(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=4, stride=2, padding=1)

    def __call__(self, x):
        return nchw(self.conv, x)


class Upsample(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1)

    def _f(self, x):
        x = mx.repeat(mx.repeat(x, 2, axis=1), 2, axis=2)
        return self.conv(x)

    def __call__(self, x):
        return nchw(self._f, x)


class Encoder(nn.Module):
    def __init__(self, in_channels, hidden_channels, codebook_dim, num_res_blocks, mults=(1,)):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, hidden_channels, kernel_size=3, padding=1)
        self.down_blocks = []
        ch = hidden_channels
        for m in mults:
            for _ in range(num_res_blocks):
                self.down_blocks.append(ResidualBlock(ch))
            self.down_blocks.append(Downsample(ch, hidden_channels * m))
            ch = hidden_channels * m
        for _ in range(num_res_blocks):
            self.down_blocks.append(ResidualBlock(ch))
        self.norm_out = nn.GroupNorm(8, ch)
        self.conv_out = nn.Conv2d(ch, codebook_dim, kernel_size=3, padding=1)

    def __call__(self, x):
        x = nchw(self.conv_in, x)
        for b in self.down_blocks:
            x = b(x)
        return nchw(lambda h: self.conv_out(nn.silu(self.norm_out(h))), x)


class Decoder(nn.Module):
    def __init__(self, out_channels, hidden_channels, codebook_dim, num_res_blocks, mults=(1,)):
        super().__init__()
        mults = list(reversed(mults))
        ch = hidden_channels * mults[0]
        self.conv_in = nn.Conv2d(codebook_dim, ch, kernel_size=3, padding=1)
        self.up_blocks = []
        for _ in range(num_res_blocks):
            self.up_blocks.append(ResidualBlock(ch))
        for i in range(len(mults)):
            nxt = hidden_channels * mults[i + 1] if i < len(mults) - 1 else hidden_channels
            self.up_blocks.append(Upsample(ch, nxt))
            ch = nxt
            for _ in range(num_res_blocks):
                self.up_blocks.append(ResidualBlock(ch))
        self.norm_out = nn.GroupNorm(8, ch)
        self.conv_out = nn.Conv2d(ch, out_channels, kernel_size=3, padding=1)

    def __call__(self, z):
        x = nchw(self.conv_in, z)
        for b in self.up_blocks:
            x = b(x)
        x = nchw(lambda h: self.conv_out(nn.silu(self.norm_out(h))), x)
        return mx.tanh(x)


class VectorQuantizer(nn.Module):
    def __init__(self, codebook_size, codebook_dim, commitment_cost=0.25):
        super().__init__()
        self.commitment_cost = commitment_cost
        self.embedding = nn.Embedding(codebook_size, codebook_dim)

    def __call__(self, z):
        B, D, H, W = z.shape
        z_flat = z.transpose(0, 2, 3, 1).reshape(-1, D)
        cb = self.embedding.weight
        d = (mx.sum(z_flat ** 2, axis=1, keepdims=True)
             + mx.sum(cb ** 2, axis=1, keepdims=True).T - 2 * (z_flat @ cb.T))
        indices = mx.stop_gradient(mx.argmin(d, axis=1).astype(mx.int32))
        z_q = self.embedding(indices).reshape(B, H, W, D).transpose(0, 3, 1, 2)
        loss = (mx.mean((mx.stop_gradient(z) - z_q) ** 2)
                + self.commitment_cost * mx.mean((z - mx.stop_gradient(z_q)) ** 2))
        z_q = z + mx.stop_gradient(z_q - z)
        return z_q, indices.reshape(B, H, W), loss


class VQGAN(nn.Module):
    def __init__(self, in_channels, hidden_channels, codebook_size, codebook_dim, num_res_blocks):
        super().__init__()
        self.encoder = Encoder(in_channels, hidden_channels, codebook_dim, num_res_blocks)
        self.quantizer = VectorQuantizer(codebook_size, codebook_dim)
        self.decoder = Decoder(in_channels, hidden_channels, codebook_dim, num_res_blocks)

    def __call__(self, x):
        z_q, indices, vq_loss = self.quantizer(self.encoder(x))
        return self.decoder(z_q), indices, vq_loss


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels=3, hidden_channels=32, num_layers=2):
        super().__init__()
        layers = [nn.Conv2d(in_channels, hidden_channels, kernel_size=4, stride=2, padding=1)]
        ch = hidden_channels
        for _ in range(1, num_layers):
            layers.append(nn.Conv2d(ch, ch * 2, kernel_size=4, stride=2, padding=1))
            layers.append(nn.GroupNorm(8, ch * 2))
            ch = ch * 2
        layers.append(nn.Conv2d(ch, 1, kernel_size=4, stride=1, padding=1))
        self.layers = layers

    def __call__(self, x):
        x = mx.transpose(x, (0, 2, 3, 1))
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = nn.leaky_relu(x, negative_slope=0.2)
        return mx.transpose(x, (0, 3, 1, 2))


def hinge_loss_d(real_logits, fake_logits):
    return mx.mean(nn.relu(1.0 - real_logits)) + mx.mean(nn.relu(1.0 + fake_logits))


def hinge_loss_g(fake_logits):
    return -mx.mean(fake_logits)


def reconstruction_loss(x, x_recon):
    return mx.mean(mx.abs(x - x_recon))


def save_checkpoint(model, discriminator, optimizer_g, optimizer_d, epoch, path):
    """Save model checkpoint."""
    # Flatten parameters to list of (name, array) tuples
    model_flat = list(tree_flatten(model.parameters()))
    disc_flat = list(tree_flatten(discriminator.parameters()))

    # Create save dict with namespaced keys to avoid key collisions
    save_dict = {}
    for name, arr in model_flat:
        save_dict[f"model.{name}"] = arr
    for name, arr in disc_flat:
        save_dict[f"disc.{name}"] = arr
    save_dict["epoch"] = mx.array([epoch])

    mx.savez(path, **save_dict)
    print(f"Saved checkpoint to {os.path.basename(path)}")


def load_checkpoint(path, model, discriminator):
    """Load model checkpoint and return starting epoch."""
    data = dict(mx.load(path))

    # Extract epoch
    epoch = int(data.pop("epoch").item())

    # Separate model and discriminator params by key namespace
    model_params = [(k[6:], v) for k, v in data.items() if k.startswith("model.")]
    disc_params = [(k[5:], v) for k, v in data.items() if k.startswith("disc.")]

    # Load weights
    model.load_weights(model_params)
    discriminator.load_weights(disc_params)

    print(f"Loaded checkpoint from {os.path.basename(path)} (epoch {epoch})")
    return epoch


def train_step(model, discriminator, optimizer_g, optimizer_d, batch, disc_weight=0.1):
    aux_data = {}

    def g_loss_fn(model):
        x_recon, _, vq_loss = model(batch)
        aux_data["x_recon"] = x_recon
        aux_data["vq_loss"] = vq_loss
        recon_loss = reconstruction_loss(batch, x_recon)
        aux_data["recon_loss"] = recon_loss
        g_adv_loss = hinge_loss_g(discriminator(x_recon))
        return recon_loss + vq_loss + disc_weight * g_adv_loss

    g_loss, g_grads = nn.value_and_grad(model, g_loss_fn)(model)
    optimizer_g.update(model, g_grads)

    x_recon = aux_data["x_recon"]

    def d_loss_fn(discriminator):
        real_logits = discriminator(batch)
        fake_logits = discriminator(mx.stop_gradient(x_recon))
        return hinge_loss_d(real_logits, fake_logits)

    d_loss, d_grads = nn.value_and_grad(discriminator, d_loss_fn)(discriminator)
    optimizer_d.update(discriminator, d_grads)

    mx.eval(model.parameters(), discriminator.parameters(),
            optimizer_g.state, optimizer_d.state)
    return {"g_loss": g_loss.item(), "d_loss": d_loss.item(),
            "recon_loss": aux_data["recon_loss"].item(),
            "vq_loss": aux_data["vq_loss"].item()}


def main():
    mx.random.seed(7)
    np.random.seed(7)
    cfg = CONFIG
    images = make_scenes(cfg["data"]["num_images"], cfg["data"]["image_size"])
    held_out = mx.array(make_scenes(32, cfg["data"]["image_size"], seed=99))
    print(f"Loaded {len(images)} images")
    bs = cfg["training"]["batch_size"]
    loader = create_dataloader(images, bs)

    m = cfg["model"]
    model = VQGAN(m["in_channels"], m["hidden_channels"], m["codebook_size"],
                  m["codebook_dim"], m["num_res_blocks"])
    discriminator = PatchDiscriminator(in_channels=m["in_channels"])
    mx.eval(model.parameters(), discriminator.parameters())
    optimizer_g = optim.Adam(learning_rate=cfg["training"]["learning_rate"])
    optimizer_d = optim.Adam(learning_rate=cfg["training"]["learning_rate"])

    rec0, _, _ = model(held_out)
    print(f"untrained held-out recon L1: {reconstruction_loss(held_out, rec0).item():.4f}")
    model.train()
    ckpt_dir = tempfile.mkdtemp()
    steps_per_epoch = len(images) // bs
    total_epochs = cfg["training"]["num_epochs"]
    t0 = time.time()
    for epoch in range(total_epochs):
        sums = {"g_loss": 0.0, "d_loss": 0.0, "recon_loss": 0.0, "vq_loss": 0.0}
        for _ in range(steps_per_epoch):
            out = train_step(model, discriminator, optimizer_g, optimizer_d, next(loader))
            for k, v in out.items():
                sums[k] += v
        print(f"Epoch {epoch + 1} - " + " | ".join(
            f"{k}: {v / steps_per_epoch:.4f}" for k, v in sums.items()))
        if (epoch + 1) % cfg["training"]["save_every"] == 0:
            save_checkpoint(model, discriminator, optimizer_g, optimizer_d, epoch + 1,
                            os.path.join(ckpt_dir, f"vqgan_epoch_{epoch + 1:04d}.npz"))

    model.eval()
    rec, _, _ = model(held_out)
    held_l1 = reconstruction_loss(held_out, rec).item()
    print(f"held-out recon L1: {held_l1:.4f}  (mean-image baseline "
          f"{mx.mean(mx.abs(held_out - mx.mean(held_out, axis=0))).item():.4f})")

    last = os.path.join(ckpt_dir, f"vqgan_epoch_{total_epochs:04d}.npz")
    fresh = VQGAN(m["in_channels"], m["hidden_channels"], m["codebook_size"],
                  m["codebook_dim"], m["num_res_blocks"])
    fresh_disc = PatchDiscriminator(in_channels=m["in_channels"])
    load_checkpoint(last, fresh, fresh_disc)
    fresh.eval()
    rec2, _, _ = fresh(held_out)
    print(f"reloaded held-out recon L1: {reconstruction_loss(held_out, rec2).item():.4f}")
    print(f"Training complete in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
