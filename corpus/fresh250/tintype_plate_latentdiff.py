# Tintype plate scans (8x8, synthetic): a small VAE compresses the plates to a
# 3-d latent, then a denoising diffusion model is trained on the frozen
# encoder's latent codes. The diffusion run is checkpointed half-way, the
# process state is dropped, and training resumes from the files on disk.
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 3
np.random.seed(SEED)
mx.random.seed(SEED)
SIDE, DIM, LAT, T = 8, 64, 3, 100

# ---- synthetic plates: a light fall-off at angle theta plus one of two
# vignette strengths (two plate makers), silver speckle noise
rng = np.random.default_rng(SEED)
yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
xx, yy = (xx - 3.5) / 3.5, (yy - 3.5) / 3.5
rad = np.sqrt(xx**2 + yy**2)


def plates(n):
    th = rng.uniform(0, 2 * np.pi, n)
    vig = np.where(rng.random(n) < 0.5, 0.2, 0.9)
    img = (0.8 * (np.cos(th)[:, None, None] * xx + np.sin(th)[:, None, None] * yy)
           - vig[:, None, None] * rad + rng.normal(0, 0.05, (n, SIDE, SIDE)))
    return img.reshape(n, DIM).astype(np.float32)


train = mx.array(plates(3000))
held = mx.array(plates(500))


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, 2 * LAT))
        self.dec = nn.Sequential(nn.Linear(LAT, 64), nn.GELU(), nn.Linear(64, DIM))

    def encode(self, x):
        h = self.enc(x)
        return h[:, :LAT], h[:, LAT:]

    def __call__(self, x):
        mu, logv = self.encode(x)
        z = mu + mx.exp(0.5 * logv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logv


def vae_loss(m, x, beta):
    rec, mu, logv = m(x)
    r = mx.mean(mx.sum((rec - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logv - mu**2 - mx.exp(logv), axis=1))
    return r + beta * kl, (r, kl)


t0 = time.time()
vae = VAE()
mx.eval(vae.parameters())
vopt = optim.Adam(learning_rate=3e-3)
vstep = nn.value_and_grad(vae, lambda m, x, b: vae_loss(m, x, b)[0])
print("stage A: plate VAE (KL weight ramps 0 -> 0.5 over the first 300 steps)")
for it in range(1, 601):
    beta = min(1.0, it / 300) * 0.5
    idx = mx.array(rng.integers(0, 3000, 64))
    loss, g = vstep(vae, train[idx], beta)
    vopt.update(vae, g)
    mx.eval(vae.parameters(), vopt.state)
    if it % 100 == 0:
        _, (r, kl) = vae_loss(vae, held, beta)
        print(f"  vae step {it:4d}  beta {beta:.2f}  held recon {r.item():7.3f}  held kl {kl.item():6.3f}")

vae.freeze()
mu_tr, _ = vae.encode(train)
scale = mx.std(mu_tr, axis=0)
codes = mu_tr / scale
mx.eval(codes)
print(f"latent code std per dim before scaling: {np.round(np.array(scale), 3).tolist()}")

# ---- stage B: latent diffusion
s = np.arange(T + 1) / T
abar = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
ABAR = mx.array(np.clip(abar[1:] / abar[0], 1e-4, 0.9999).astype(np.float32))


def tfeat(t):
    f = mx.exp(-math.log(1000.0) * mx.arange(8) / 8)
    a = t.astype(mx.float32)[:, None] * f[None]
    return mx.concatenate([mx.sin(a), mx.cos(a)], axis=1)


class LatentDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LAT + 16, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, LAT))

    def __call__(self, z, t):
        return self.net(mx.concatenate([z, tfeat(t)], axis=1))


def dloss(m, z0, t, eps):
    a = ABAR[t][:, None]
    return mx.mean((m(mx.sqrt(a) * z0 + mx.sqrt(1 - a) * eps, t) - eps) ** 2)


TOTAL, WARM, CKPT = 1000, 100, 500


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=0.0)


ev = np.random.default_rng(21)
EV_I = mx.array(ev.integers(0, 3000, 900))
EV_T = mx.array(np.repeat([10, 50, 90], 300).astype(np.int32))
EV_E = mx.array(ev.normal(size=(900, LAT)).astype(np.float32))


def buckets(m):
    a = ABAR[EV_T][:, None]
    z0 = codes[EV_I]
    err = mx.mean((m(mx.sqrt(a) * z0 + mx.sqrt(1 - a) * EV_E, EV_T) - EV_E) ** 2, axis=1)
    return [mx.mean(err[k * 300:(k + 1) * 300]).item() for k in range(3)]


def train_span(m, opt, first, last):
    step = nn.value_and_grad(m, dloss)
    for it in range(first, last + 1):
        idx = mx.array(rng.integers(0, 3000, 128))
        t = mx.random.randint(0, T, (128,))
        eps = mx.random.normal((128, LAT))
        loss, g = step(m, codes[idx], t, eps)
        opt.update(m, g)
        mx.eval(m.parameters(), opt.state)
        if it % 125 == 0:
            b = buckets(m)
            print(f"  diff step {it:4d}  lr {opt.learning_rate.item():.5f}  eps-mse t=10 {b[0]:.3f}  t=50 {b[1]:.3f}  t=90 {b[2]:.3f}")


print("stage B: latent diffusion on frozen encoder codes (lr warmup from 0, cosine decay)")
den = LatentDenoiser()
mx.eval(den.parameters())
opt = make_opt()
print(f"  before training  eps-mse t=10/50/90: {np.round(buckets(den), 3).tolist()}")
train_span(den, opt, 1, CKPT)

ckdir = tempfile.mkdtemp()
den.save_weights(os.path.join(ckdir, "den.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = buckets(den)
del den, opt
print(f"  checkpoint written at step {CKPT}; process state dropped")

den = LatentDenoiser()
den.load_weights(os.path.join(ckdir, "den.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
after = buckets(den)
print(f"  resumed: optimizer step {int(opt.state['step'].item())}, bucket check {np.round(before, 4).tolist()} -> {np.round(after, 4).tolist()}")
train_span(den, opt, CKPT + 1, TOTAL)


# ---- sample latents (ancestral DDPM) and compare with the real codes
def sample(m, n):
    z = mx.random.normal((n, LAT), key=mx.random.key(9))
    keys = mx.random.split(mx.random.key(10), T)
    for t in range(T - 1, -1, -1):
        a = ABAR[t]
        a_prev = ABAR[t - 1] if t > 0 else mx.array(1.0)
        beta_t = 1 - a / a_prev
        eps = m(z, mx.full((n,), t, dtype=mx.int32))
        mean = (z - beta_t / mx.sqrt(1 - a) * eps) / mx.sqrt(1 - beta_t)
        if t > 0:
            var = beta_t * (1 - a_prev) / (1 - a)
            z = mean + mx.sqrt(var) * mx.random.normal(z.shape, key=keys[t])
        else:
            z = mean
    return z


def mmd(a, b, bw=1.0):
    def k(x, y):
        d = mx.sum((x[:, None] - y[None]) ** 2, axis=2)
        return mx.exp(-d / (2 * bw * bw))
    return (mx.mean(k(a, a)) + mx.mean(k(b, b)) - 2 * mx.mean(k(a, b))).item()


ref = codes[mx.array(rng.integers(0, 3000, 500))]
gen = sample(den, 500)
gauss = mx.random.normal((500, LAT), key=mx.random.key(12))
other = codes[mx.array(rng.integers(0, 3000, 500))]
print(f"latent MMD vs real codes: diffusion samples {mmd(gen, ref):.4f}  N(0,I) baseline {mmd(gauss, ref):.4f}  second real draw {mmd(other, ref):.4f}")
img_gen = vae.dec(gen * scale)
img_real = vae.dec(ref * scale)
print(f"decoded plate pixel mean/std: samples {mx.mean(img_gen).item():.3f}/{mx.std(img_gen).item():.3f}  real {mx.mean(img_real).item():.3f}/{mx.std(img_real).item():.3f}")
shutil.rmtree(ckdir, ignore_errors=True)
print(f"done in {time.time() - t0:.1f}s")
