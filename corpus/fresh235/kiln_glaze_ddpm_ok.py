import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class NoiseScheduler:
    """Linear beta schedule from the DDPM paper."""

    def __init__(self, num_timesteps=200, beta_start=1e-4, beta_end=0.02):
        self.num_timesteps = num_timesteps
        self.betas = mx.linspace(beta_start, beta_end, num_timesteps)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = mx.cumprod(self.alphas)
        self.sqrt_alphas_cumprod = mx.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = mx.sqrt(1.0 - self.alphas_cumprod)

    def q_sample(self, x_start, t, noise=None):
        if noise is None:
            noise = mx.random.normal(x_start.shape)

        sqrt_alphas_cumprod_t = self.sqrt_alphas_cumprod[t]
        sqrt_one_minus_alphas_cumprod_t = self.sqrt_one_minus_alphas_cumprod[t]

        sqrt_alphas_cumprod_t = mx.expand_dims(sqrt_alphas_cumprod_t, axis=(1, 2, 3))
        sqrt_one_minus_alphas_cumprod_t = mx.expand_dims(
            sqrt_one_minus_alphas_cumprod_t, axis=(1, 2, 3)
        )

        return sqrt_alphas_cumprod_t * x_start + sqrt_one_minus_alphas_cumprod_t * noise

    def p_losses(self, denoise_model, x_start, t, noise=None):
        if noise is None:
            noise = mx.random.normal(x_start.shape)
        x_noisy = self.q_sample(x_start=x_start, t=t, noise=noise)
        predicted_noise = denoise_model(x_noisy, t)
        return mx.mean((noise - predicted_noise) ** 2)


class SinusoidalPositionEmbeddings(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def __call__(self, time):
        half = self.dim // 2
        freqs = mx.exp(-math.log(10000.0) * mx.arange(half) / (half - 1))
        args = time.astype(mx.float32)[:, None] * freqs[None, :]
        return mx.concatenate([mx.sin(args), mx.cos(args)], axis=-1)


class Block(nn.Module):
    def __init__(self, in_ch, out_ch, time_emb_dim):
        super().__init__()
        self.time_mlp = nn.Linear(time_emb_dim, out_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def __call__(self, x, t):
        h = nn.silu(self.conv1(x))
        h = h + self.time_mlp(t)[:, None, None, :]
        h = nn.silu(self.conv2(h))
        return h + self.skip(x)


class TinyDenoiser(nn.Module):
    def __init__(self, channels=3, width=12, time_dim=16):
        super().__init__()
        self.time_embed = SinusoidalPositionEmbeddings(time_dim)
        self.time_proj = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU())
        self.b1 = Block(channels, width, time_dim)
        self.b2 = Block(width, width, time_dim)
        self.out = nn.Conv2d(width, channels, 1)

    def __call__(self, x, t):
        temb = self.time_proj(self.time_embed(t))
        h = self.b1(x, temb)
        h = self.b2(h, temb)
        return self.out(h)


def make_glaze_tiles(n, size=8):
    """Synthetic 8x8 RGB tiles: a colored disc on a flat background, in [-1, 1]."""
    ys, xs = mx.meshgrid(mx.arange(size), mx.arange(size), indexing="ij")
    cx = mx.random.randint(2, size - 2, (n, 1, 1)).astype(mx.float32)
    cy = mx.random.randint(2, size - 2, (n, 1, 1)).astype(mx.float32)
    r = mx.random.uniform(1.5, 3.0, (n, 1, 1))
    disc = ((xs[None] - cx) ** 2 + (ys[None] - cy) ** 2 <= r**2).astype(mx.float32)
    color = mx.random.uniform(-1.0, 1.0, (n, 1, 1, 3))
    bg = -0.8 * mx.ones((n, size, size, 3))
    return bg * (1 - disc[..., None]) + color * disc[..., None]


def main():
    mx.random.seed(0)
    scheduler = NoiseScheduler(num_timesteps=200)
    model = TinyDenoiser()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)

    data = make_glaze_tiles(2048)
    mx.eval(data)
    batch_size = 16

    def loss_fn(model, images, t):
        return scheduler.p_losses(model, images, t)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    steps = 150
    running = 0.0
    tic = time.perf_counter()
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, data.shape[0], (batch_size,))
        images = data[idx]
        t = mx.random.randint(0, scheduler.num_timesteps, (batch_size,))
        loss, grads = loss_and_grad(model, images, t)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        if step % 25 == 0:
            print(f"step {step:4d} | noise-mse {running / 25:.4f} | {time.perf_counter() - tic:.1f}s")
            running = 0.0

    # held-out noise prediction error at a few chosen timesteps
    mx.random.seed(123)
    val = make_glaze_tiles(64)
    for tv in (10, 100, 190):
        t = mx.full((64,), tv, dtype=mx.int32)
        print(f"val t={tv:3d} noise-mse {scheduler.p_losses(model, val, t).item():.4f}")


if __name__ == "__main__":
    main()
