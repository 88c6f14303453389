# Tiny DreamBooth-style flow-matching fine-tune on synthetic "latent images".
# Latents are (B, L, C) token grids; the sampler mixes data and noise by a per-sample t.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class FlowSampler:
    def __init__(self, base_shift=0.5, max_shift=1.5):
        self._base_shift = base_shift
        self._max_shift = max_shift

    def _time_shift(self, x, t):
        x1, x2 = 256, 4096
        t1, t2 = self._base_shift, self._max_shift
        exp_mu = math.exp((x - x1) * (t2 - t1) / (x2 - x1) + t1)
        return exp_mu / (exp_mu + (1 / t - 1))

    def random_timesteps(self, B, L, dtype=mx.float32):
        t = mx.random.uniform(low=0.02, high=0.98, shape=(B,), dtype=dtype)
        return self._time_shift(L, t)

    def add_noise(self, x, t, noise):
        t = t.reshape([-1] + [1] * (x.ndim - 1))
        return x * (1 - t) + t * noise


class TinyFlow(nn.Module):
    def __init__(self, channels=8, hidden=64, tokens=16):
        super().__init__()
        self.tokens = tokens
        self.t_embed = nn.Linear(16, hidden)
        self.inp = nn.Linear(channels * tokens, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, channels * tokens)

    def timestep_features(self, t):
        freqs = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
        ang = 1000.0 * t[:, None] * freqs[None, :]
        return mx.concatenate([mx.cos(ang), mx.sin(ang)], axis=-1)

    def __call__(self, img, timesteps):
        B, L, C = img.shape
        h = self.inp(img.reshape(B, L * C)) + self.t_embed(self.timestep_features(timesteps))
        h = nn.silu(h)
        h = nn.silu(self.mid(h)) + h
        return self.out(h).reshape(B, L, C)


def make_subject(n, tokens=16, channels=8):
    # the "subject": a fixed low-rank pattern with per-image jitter
    basis = mx.random.normal((2, tokens * channels))
    coef = mx.random.normal((n, 2)) * 0.3 + mx.array([1.0, -0.5])
    x = coef @ basis + 0.05 * mx.random.normal((n, tokens * channels))
    return x.reshape(n, tokens, channels)


def main():
    mx.random.seed(7)
    images = make_subject(64)
    model = TinyFlow()
    sampler = FlowSampler()
    opt = optim.Adam(learning_rate=2e-3)

    def training_loss(model, x_0):
        t = sampler.random_timesteps(*x_0.shape[:2])
        eps = mx.random.normal(x_0.shape)
        x_t = sampler.add_noise(x_0, t, noise=eps)
        x_t = mx.stop_gradient(x_t)
        pred = model(x_t, t)
        return (pred + x_0 - eps).square().mean()

    loss_and_grad = nn.value_and_grad(model, training_loss)
    batch_size = 4
    iters = 600
    tic = time.time()
    running = []
    for it in range(iters):
        idx = mx.random.randint(0, images.shape[0], (batch_size,))
        batch = images[idx]
        loss, grads = loss_and_grad(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if (it + 1) % 50 == 0:
            avg = sum(running) / len(running)
            running = []
            print(f"Iter {it + 1:4d}: train loss {avg:.4f}  It/s {50 / (time.time() - tic):.1f}")
            tic = time.time()
    print("Finished fine-tuning the subject.")


if __name__ == "__main__":
    main()
