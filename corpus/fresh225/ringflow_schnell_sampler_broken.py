# Tiny rectified-flow "schnell" trainer on a 2-D ring of 8 gaussians.
# The sampler mirrors the FluxSampler of mlx-examples/flux: training draws
# t from the 4 schnell levels, validation integrates 4 Euler steps.
import math
from functools import lru_cache

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class FluxSampler:
    def __init__(self, name: str, base_shift: float = 0.5, max_shift: float = 1.5):
        self._base_shift = base_shift
        self._max_shift = max_shift
        self._schnell = "schnell" in name

    def _time_shift(self, x, t):
        x1, x2 = 256, 4096
        t1, t2 = self._base_shift, self._max_shift
        exp_mu = math.exp((x - x1) * (t2 - t1) / (x2 - x1) + t1)
        t = exp_mu / (exp_mu + (1 / t - 1))
        return t

    @lru_cache
    def timesteps(self, num_steps, image_sequence_length, start: float = 1, stop: float = 0):
        t = mx.linspace(start, stop, num_steps + 1)

        if self._schnell:
            t = self._time_shift(image_sequence_length, t)

        return t.tolist()

    def random_timesteps(self, B, L, dtype=mx.float32, key=None):
        if self._schnell:
            t = mx.random.randint(1, 5, shape=(B,), key=key)
            t = t.astype(dtype) / 4
        else:
            t = mx.random.uniform(shape=(B,), dtype=dtype, key=key)
            t = self._time_shift(L, t)
        return t

    def sample_prior(self, shape, dtype=mx.float32, key=None):
        return mx.random.normal(shape, dtype=dtype, key=key)

    def add_noise(self, x, t, noise=None, key=None):
        noise = noise if noise is not None else mx.random.normal(x.shape, dtype=x.dtype, key=key)
        t = t.reshape([-1] + [1] * (x.ndim - 1))
        return x * (1 - t) + t * noise

    def step(self, pred, x_t, t, t_prev):
        return x_t + (t_prev - t) * pred


class VelocityNet(nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.inp = nn.Linear(2 + 8, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x, t):
        freqs = mx.array([1.0, 2.0, 4.0, 8.0])
        ang = t[:, None] * freqs[None, :] * math.pi
        temb = mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=-1)
        h = nn.silu(self.inp(mx.concatenate([x, temb], axis=-1)))
        h = nn.silu(self.h1(h))
        h = nn.silu(self.h2(h))
        return self.out(h)


CENTERS = mx.array([[2.0 * math.cos(2 * math.pi * k / 8), 2.0 * math.sin(2 * math.pi * k / 8)] for k in range(8)])


def sample_data(n):
    idx = mx.random.randint(0, 8, shape=(n,))
    return CENTERS[idx] + 0.08 * mx.random.normal((n, 2))


def ring_error(pts):
    d = mx.sqrt(((pts[:, None, :] - CENTERS[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return d.mean().item(), (d < 0.35).astype(mx.float32).mean().item()


def main():
    mx.random.seed(11)
    L = 4096  # pretend latent sequence length of a 1024x1024 image
    sampler = FluxSampler("flux-schnell")
    model = VelocityNet()
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(model, x0, t, noise):
        xt = sampler.add_noise(x0, t, noise=noise)
        return ((model(xt, t) - (noise - x0)) ** 2).mean()

    step_fn = nn.value_and_grad(model, loss_fn)

    def validate(n=2000, steps=4):
        x = sampler.sample_prior((n, 2))
        ts = sampler.timesteps(steps, L)
        for t, t_prev in zip(ts[:-1], ts[1:]):
            pred = model(x, mx.full((n,), t))
            x = sampler.step(pred, x, t, t_prev)
        return ring_error(x), ts

    for it in range(1, 601):
        x0 = sample_data(256)
        t = sampler.random_timesteps(256, L)
        noise = mx.random.normal(x0.shape)
        loss, grads = step_fn(model, x0, t, noise)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 150 == 0:
            (err, hit), ts = validate()
            print(f"iter {it:5d} | fm_loss {loss.item():.4f} | val ring_err {err:.3f} hit@0.35 {100*hit:5.1f}% | t-grid {[round(v, 3) for v in ts]}")

    (err, hit), _ = validate(3000)
    print(f"final: ring_err={err:.3f} hit@0.35={100*hit:.1f}%")


if __name__ == "__main__":
    main()
