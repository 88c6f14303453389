"""Tiny conv VAE for lichen thallus reflectance spectra (64 bands, 400-1000 nm).

Cyclical KL annealing (beta 0 -> 1 over half a cycle, 3 cycles), Lion with a
warmup that starts at exactly 0, progress printed as tqdm-style bars.
"""
import math
import sys
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
BANDS, LATENT, N = 64, 4, 768
wl = mx.linspace(400.0, 1000.0, BANDS)


def synth_spectra(n):
    # mixtures of chlorophyll dip, red-edge sigmoid, water band and a brown pigment slope
    k = mx.random.uniform(0, 1, (n, 4))
    chl = mx.exp(-((wl - 675.0) / 25.0) ** 2)
    edge = mx.sigmoid((wl - (700.0 + 30.0 * k[:, 3:4])) / 12.0)
    water = mx.exp(-((wl - 970.0) / 20.0) ** 2)
    brown = (1000.0 - wl) / 600.0
    r = 0.08 + 0.45 * k[:, 0:1] * edge - 0.06 * k[:, 1:2] * chl - 0.05 * water + 0.12 * k[:, 2:3] * brown
    return r + 0.004 * mx.random.normal(r.shape)


data = synth_spectra(N)
mu, sd = data.mean(axis=0), data.std(axis=0) + 1e-6
data = (data - mu) / sd
train, valid = data[:640], data[640:]


class SpecVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, stride=2, padding=2)
        self.c2 = nn.Conv1d(8, 16, 5, stride=2, padding=2)
        self.enc = nn.Linear(16 * 16, 2 * LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 96), nn.SiLU(), nn.Linear(96, BANDS))

    def __call__(self, x, key):
        h = nn.silu(self.c1(x[:, :, None]))
        h = nn.silu(self.c2(h)).reshape(x.shape[0], -1)
        m, logv = mx.split(self.enc(h), 2, axis=-1)
        z = m + mx.exp(0.5 * logv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, logv


def terms(model, x, key):
    xr, m, logv = model(x, key)
    recon = ((xr - x) ** 2).sum(axis=-1).mean()
    kl = (-0.5 * (1 + logv - m ** 2 - mx.exp(logv))).sum(axis=-1).mean()
    return recon, kl


def loss_fn(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = SpecVAE()
mx.eval(model.parameters())
CYCLES, PER_CYCLE, BS = 3, 160, 64
total = CYCLES * PER_CYCLE
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, 40), optim.cosine_decay(3e-4, total - 40, 3e-5)], [40])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

step = 0
t0 = time.time()
for cyc in range(CYCLES):
    for s in range(PER_CYCLE):
        beta = min(1.0, s / (PER_CYCLE / 2))
        idx = mx.random.randint(0, train.shape[0], (BS,))
        key = mx.random.key(step)
        (loss, (rec, kl)), grads = vg(model, train[idx], key, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        step += 1
        if (s + 1) % 40 == 0:
            frac = (s + 1) / PER_CYCLE
            bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
            el = time.time() - t0
            sys.stdout.write(
                f"cycle {cyc + 1}/{CYCLES}: {int(100 * frac):3d}%|{bar}| {s + 1}/{PER_CYCLE} "
                f"[{el:05.1f}s, lr={opt.learning_rate.item():.2e}, beta={beta:.2f}, "
                f"recon={rec.item():.3f}, kl={kl.item():.3f}, elbo={loss.item():.3f}]\n")
    vr, vk = terms(model, valid, mx.random.key(999))
    print(f"  valid after cycle {cyc + 1}: recon {vr.item():.3f} nats-ish, kl {vk.item():.3f}, "
          f"(all-zero decoder would give recon {float((valid ** 2).sum(axis=-1).mean()):.1f})")
