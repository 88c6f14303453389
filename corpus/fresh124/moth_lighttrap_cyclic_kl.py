# Light-trap optical sensor: VAE over 32-band wing-reflectance spectra of moths
# flying through the beam. Cyclical KL annealing (beta goes 0 -> 1 in the first
# half of every cycle, then holds; 4 cycles) so the total loss climbs while beta
# ramps and drops when a new cycle starts. LR warms up from exactly 0.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
BANDS = 32
wl = np.linspace(0.0, 1.0, BANDS, dtype=np.float32)


def make_spectra(n):
    centre = rng.uniform(0.2, 0.8, size=(n, 1))
    width = rng.uniform(0.04, 0.15, size=(n, 1))
    second = rng.uniform(0.0, 0.6, size=(n, 1))
    slope = rng.normal(0.0, 0.3, size=(n, 1))
    spec = (np.exp(-0.5 * ((wl - centre) / width) ** 2)
            + second * np.exp(-0.5 * ((wl - (centre + 0.18)) / 0.05) ** 2)
            + 0.2 + slope * (wl - 0.5))
    spec += rng.normal(0.0, 0.03, size=spec.shape)
    return spec.astype(np.float32)


train = mx.array(make_spectra(6000))
val = mx.array(make_spectra(1000))
mean_spec = mx.mean(train, axis=0)
SIGMA = 0.1
LATENT = 6


class SpectrumVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BANDS, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, BANDS))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    recon = mx.mean(0.5 * mx.sum((x - xh) ** 2, axis=1) / SIGMA**2)
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu**2 - mx.exp(logvar), axis=1))
    return recon, kl


def loss_fn(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


STEPS = 2000
CYCLES = 4
PER_CYCLE = STEPS // CYCLES


def beta_at(step):
    pos = (step % PER_CYCLE) / PER_CYCLE
    return min(1.0, pos / 0.5)


model = SpectrumVAE()
mx.eval(model.parameters())
lr = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 150),
                           optim.cosine_decay(2e-3, STEPS - 150, 2e-4)], [150])
opt = optim.Adamax(learning_rate=lr)
vg = nn.value_and_grad(model, lambda m, x, k, b: loss_fn(m, x, k, b))

# audit: every trainable tensor must receive a gradient
(_, _), g0 = vg(model, train[:128], mx.random.key(0), mx.array(1.0))
gn = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "n": len(gn), "min": round(min(gn.values()), 6),
                  "min_at": min(gn, key=gn.get)}))

baseline_recon = float(mx.mean(0.5 * mx.sum((val - mean_spec) ** 2, axis=1) / SIGMA**2))
t0 = time.time()
key = mx.random.key(1)
B = 128
for step in range(STEPS):
    b = beta_at(step)
    idx = mx.array(rng.integers(0, train.shape[0], size=B))
    key, sub = mx.random.split(key)
    (loss, (rec, kl)), grads = vg(model, train[idx], sub, mx.array(b))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rec, kl)
    if step % 100 == 0 or step == STEPS - 1:
        vr, vk = terms(model, val, mx.random.key(99))
        mu = model.mu(model.enc(val))
        active = int(mx.sum(mx.var(mu, axis=0) > 0.01))
        print(json.dumps({"step": step, "cycle": step // PER_CYCLE, "beta": round(b, 3),
                          "lr": float(opt.learning_rate), "loss": round(float(loss), 3),
                          "recon": round(float(rec), 3), "kl": round(float(kl), 3),
                          "val_elbo": round(float(vr + vk), 3),
                          "val_recon": round(float(vr), 3), "ref_meanspec_recon": round(baseline_recon, 3),
                          "active_units": active}))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 2)}))
