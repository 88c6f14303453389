"""Denoising autoencoder on synthetic 1-D signals; reports only PSNR in dB (higher is better)."""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
L = 64
t = np.linspace(0, 1, L, dtype=np.float32)


def clean_batch(n):
    f = rng.uniform(1, 4, (n, 1)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
    a = rng.uniform(0.3, 1.0, (n, 1)).astype(np.float32)
    return (a * np.sin(2 * np.pi * f * t + ph)).astype(np.float32)


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(L, 128), nn.SiLU(), nn.Linear(128, 16))
        self.dec = nn.Sequential(nn.Linear(16, 128), nn.SiLU(), nn.Linear(128, L))

    def __call__(self, x):
        return self.dec(self.enc(x))


def mse(model, noisy, clean):
    return nn.losses.mse_loss(model(noisy), clean)


def psnr(m, peak=2.0):
    return 10.0 * math.log10(peak ** 2 / max(m, 1e-12))


model = DAE()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.05)
grad_fn = nn.value_and_grad(model, mse)

val_clean = clean_batch(512)
val_noisy = mx.array(val_clean + rng.normal(0, 0.3, val_clean.shape).astype(np.float32))
val_clean = mx.array(val_clean)
print(f"noisy-input psnr: {psnr(nn.losses.mse_loss(val_noisy, val_clean).item()):6.2f} dB")
t0 = time.time()
for it in range(1, 1501):
    c = clean_batch(64)
    n = c + rng.normal(0, 0.3, c.shape).astype(np.float32)
    loss, grads = grad_fn(model, mx.array(n), mx.array(c))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 150 == 0:
        v = mse(model, val_noisy, val_clean).item()
        print(f"it {it:5d}  train_psnr {psnr(loss.item()):6.2f} dB  val_psnr {psnr(v):6.2f} dB  ({time.time() - t0:.1f}s)")
