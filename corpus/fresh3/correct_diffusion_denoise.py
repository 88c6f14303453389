"""DDPM-style denoiser on a 2-D 'two moons' point cloud: predict the added noise at a random
timestep. The eps-MSE is noisy by nature (timestep sampling) and falls slowly. Lion optimizer."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T = 100
betas = mx.linspace(1e-4, 0.05, T)
alphas_bar = mx.cumprod(1.0 - betas)


def moons(n, key):
    k1, k2 = mx.random.split(key)
    t = mx.random.uniform(0, math.pi, (n,), key=k1)
    side = (mx.arange(n) % 2).astype(mx.float32)
    x = mx.where(side > 0, 1 - mx.cos(t), mx.cos(t))
    y = mx.where(side > 0, 0.5 - mx.sin(t), mx.sin(t))
    return mx.stack([x, y], 1) + 0.05 * mx.random.normal((n, 2), key=k2)


class Denoiser(nn.Module):
    def __init__(self, h=128):
        super().__init__()
        self.t_emb = nn.Embedding(T, 16)
        self.net = nn.Sequential(nn.Linear(2 + 16, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                 nn.Linear(h, 2))

    def __call__(self, x, t):
        return self.net(mx.concatenate([x, self.t_emb(t)], axis=1))


def loss_fn(model, x0, t, eps):
    ab = alphas_bar[t][:, None]
    xt = mx.sqrt(ab) * x0 + mx.sqrt(1 - ab) * eps
    return nn.losses.mse_loss(model(xt, t), eps)


model = Denoiser()
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-4)
lg = nn.value_and_grad(model, loss_fn)
key = mx.random.key(0)
ema = None
for step in range(1, 1001):
    key, k1, k2, k3 = mx.random.split(key, 4)
    x0 = moons(128, k1)
    t = mx.random.randint(0, T, (128,), key=k2)
    eps = mx.random.normal((128, 2), key=k3)
    loss, grads = lg(model, x0, t, eps)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    v = loss.item()
    ema = v if ema is None else 0.98 * ema + 0.02 * v
    if step % 100 == 0:
        print(f"step {step:5d} | eps-mse {v:.4f} | ema {ema:.4f}")
