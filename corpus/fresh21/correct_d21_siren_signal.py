# SIREN (sine-activated MLP, omega_0 = 30, Sitzmann et al. init) fitting a 1-D chirp signal.
# Metric is PSNR in dB (higher is better); logged every 30 iterations.
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

OMEGA0 = 30.0


class SineLayer(nn.Module):
    def __init__(self, d_in, d_out, first=False):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        bound = 1.0 / d_in if first else math.sqrt(6.0 / d_in) / OMEGA0
        self.linear.weight = mx.random.uniform(-bound, bound, (d_out, d_in))

    def __call__(self, x):
        return mx.sin(OMEGA0 * self.linear(x))


class Siren(nn.Module):
    def __init__(self, hidden=64, depth=3):
        super().__init__()
        self.net = [SineLayer(1, hidden, first=True)] + [SineLayer(hidden, hidden) for _ in range(depth - 1)]
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        for layer in self.net:
            x = layer(x)
        return self.out(x)


def psnr(mse):
    # signal peak-to-peak range is 2.0
    return 10.0 * math.log10(4.0 / max(mse, 1e-12))


mx.random.seed(21)
t = mx.linspace(-1, 1, 1024)[:, None]
signal = 0.6 * mx.sin(2 * math.pi * (3 * t + 6 * t**2)) + 0.3 * mx.sin(2 * math.pi * 25 * t) * mx.exp(-4 * t**2)
model = Siren()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=5e-4)


def loss_fn(model):
    return mx.mean((model(t) - signal) ** 2)


step = nn.value_and_grad(model, loss_fn)
for it in range(1, 301):
    loss, grads = step(model)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 30 == 0:
        print(f"it {it:04d} | mse {loss.item():.2e} | psnr {psnr(loss.item()):5.1f} dB")
