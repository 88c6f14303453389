# Fine-tune a tiny DAC-style conv codec in float16 on synthetic tones.
# The snake activation follows mlx_audio/codec/models/dacvae/codec.py.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def snake(x: mx.array, alpha: mx.array) -> mx.array:
    """Snake activation function."""
    recip = 1.0 / (alpha + 1e-9)
    return x + recip * mx.power(mx.sin(alpha * x), 2)


class Snake1d(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.alpha = mx.ones((1, 1, channels))

    def __call__(self, x):
        return snake(x, self.alpha)


class TinyCodec(nn.Module):
    def __init__(self, ch=24, latent=8):
        super().__init__()
        self.enc1 = nn.Conv1d(1, ch, 7, padding=3)
        self.act1 = Snake1d(ch)
        self.enc2 = nn.Conv1d(ch, latent, 4, stride=4)
        self.dec1 = nn.ConvTranspose1d(latent, ch, 4, stride=4)
        self.act2 = Snake1d(ch)
        self.dec2 = nn.Conv1d(ch, 1, 7, padding=3)

    def __call__(self, x):
        z = self.enc2(self.act1(self.enc1(x)))
        return self.dec2(self.act2(self.dec1(z)))


def make_batch(n, length=128):
    f = mx.random.uniform(2.0, 12.0, (n, 1, 1))
    ph = mx.random.uniform(0, 2 * math.pi, (n, 1, 1))
    amp = mx.random.uniform(0.3, 0.9, (n, 1, 1))
    t = mx.arange(length).reshape(1, length, 1) / length
    x = amp * mx.sin(2 * math.pi * f * t + ph)
    x = x + 0.02 * mx.random.normal(x.shape)
    return x.astype(mx.float16)


mx.random.seed(3)
model = TinyCodec()
# "pretrained" snake alphas: as in the released DAC-VAE weights, a few
# channels have alpha ~ 0 (snake collapsed to identity there)
for act in (model.act1, model.act2):
    c = act.alpha.shape[-1]
    keep = (mx.arange(c) % 6 != 0).reshape(1, 1, c)
    act.alpha = mx.where(keep, act.alpha, mx.zeros_like(act.alpha))
model.set_dtype(mx.float16)
mx.eval(model.parameters())

opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, x):
    y = m(x)
    return mx.mean((y.astype(mx.float32) - x.astype(mx.float32)) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)
val_x = make_batch(64)
mx.eval(val_x)

t0 = time.time()
for step in range(1, 151):
    x = make_batch(16)
    loss, grads = step_fn(model, x)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == 1:
        val = loss_fn(model, val_x)
        snr = 10 * mx.log10(mx.mean(val_x.astype(mx.float32) ** 2) / val)
        print(f"step {step:4d} | train mse {loss.item():.5f} | val mse {val.item():.5f} | SNR {snr.item():6.2f} dB")
print(f"done in {time.time() - t0:.1f}s")
