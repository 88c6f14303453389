"""Contact-lens fitting clinic: beta-VAE of corneal height profiles.

Each synthetic eye gives a 32-point meridian height profile (um, relative to a
best-fit sphere) built from a conic section (asphericity Q), a toric
(astigmatic) term and, for ~15% of eyes, a keratoconus-like bump.
A small VAE compresses the profile to 3 latents.  KL weight beta is annealed
0 -> 1 over the first 300 steps, so the printed ELBO climbs while beta ramps;
the learning rate warms up from exactly 0.  One JSON object per log line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(204)
mx.random.seed(204)
N_TRAIN, N_VAL, L, Z = 3000, 600, 32, 3


def make_eyes(n):
    r = np.linspace(-1.0, 1.0, L)[None, :]
    q = rng.normal(-0.25, 0.12, (n, 1))          # asphericity
    cyl = rng.normal(0.0, 0.6, (n, 1))           # toric term
    ax = rng.uniform(0, math.pi, (n, 1))
    cone = (rng.random((n, 1)) < 0.15) * rng.uniform(1.5, 3.0, (n, 1))
    cpos = rng.uniform(-0.4, 0.2, (n, 1))
    h = 2.0 * q * r ** 4 + cyl * np.cos(2 * ax) * r ** 2
    h += cone * np.exp(-((r - cpos) ** 2) / 0.02)
    h += rng.normal(0, 0.05, h.shape)
    return h.astype(np.float32)


Xtr, Xva = make_eyes(N_TRAIN), make_eyes(N_VAL)
mu_, sd_ = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = mx.array((Xtr - mu_) / sd_), mx.array((Xva - mu_) / sd_)


class ProfileVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(L, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU())
        self.to_mu = nn.Linear(32, Z)
        self.to_logvar = nn.Linear(32, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 32), nn.SiLU(), nn.Linear(32, 64), nn.SiLU(), nn.Linear(64, L))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    recon = mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1)).mean()
    return recon, kl


def loss_fn(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = ProfileVAE()
mx.eval(model.parameters())
STEPS, WARM, BETA_STEPS, BS = 900, 60, 300, 128
lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                           optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
opt = optim.Adamax(learning_rate=lr)
vg = nn.value_and_grad(model, loss_fn)

# baseline: reconstruct every profile by the training mean (0 after standardising)
base_recon = float(mx.sum(Xva ** 2, axis=1).mean())

key = mx.random.key(7)
t0 = time.time()
for step in range(1, STEPS + 1):
    key, k1, k2 = mx.random.split(key, 3)
    idx = mx.random.randint(0, N_TRAIN, (BS,), key=k1)
    beta = min(1.0, (step - 1) / BETA_STEPS)
    (loss, (rc, kl)), grads = vg(model, Xtr[idx], k2, beta)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rc, kl)
    if step == 1 or step % 75 == 0:
        vr, vk = terms(model, Xva, mx.random.key(99))
        mx.eval(vr, vk)
        print(json.dumps({
            "step": step, "lr": round(float(opt.learning_rate), 6), "beta": round(beta, 3),
            "train_obj": round(float(loss), 3), "train_recon": round(float(rc), 3), "train_kl": round(float(kl), 3),
            "val_elbo_nats": round(float(vr + vk), 3), "val_recon": round(float(vr), 3),
            "val_recon_baseline": round(base_recon, 3),
            "recon_vs_baseline_pct": round(100.0 * float(vr) / base_recon, 1),
        }))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1)}))
