"""Weather-balloon (radiosonde) ascent profiles -> small VAE.

Each sounding is 24 levels of temperature + 24 levels of relative humidity.
We train a VAE with a *cyclical* KL weight (beta goes 0 -> 1 four times) and a
learning rate that warms up from exactly zero.  Log lines are JSON so the
launch-desk dashboard can ingest them.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

LEVELS = 24
LATENT = 8
STEPS = 1200
BATCH = 128
CYCLES = 4

rng = np.random.default_rng(1147)


def make_soundings(n):
    z_km = np.linspace(0.0, 18.0, LEVELS)[None, :]
    t_sfc = rng.uniform(5.0, 32.0, size=(n, 1))
    lapse = rng.uniform(5.0, 8.0, size=(n, 1))
    z_trop = rng.uniform(9.0, 16.0, size=(n, 1))
    t_trop = t_sfc - lapse * z_trop
    temp = np.where(z_km < z_trop, t_sfc - lapse * z_km, t_trop + 0.8 * (z_km - z_trop))
    temp += rng.normal(0.0, 0.6, size=temp.shape)

    rh_sfc = rng.uniform(40.0, 95.0, size=(n, 1))
    scale = rng.uniform(2.0, 6.0, size=(n, 1))
    cloud_z = rng.uniform(1.0, 8.0, size=(n, 1))
    cloud_amp = rng.uniform(0.0, 45.0, size=(n, 1)) * (rng.random((n, 1)) < 0.6)
    rh = rh_sfc * np.exp(-z_km / scale) + cloud_amp * np.exp(-((z_km - cloud_z) ** 2) / 0.8)
    rh = np.clip(rh + rng.normal(0.0, 2.0, size=rh.shape), 0.0, 100.0)
    return np.concatenate([temp, rh], axis=1).astype(np.float32)


train_np = make_soundings(6000)
test_np = make_soundings(1000)
mu_np, sd_np = train_np.mean(0), train_np.std(0) + 1e-6
train_x = mx.array((train_np - mu_np) / sd_np)
test_x = mx.array((test_np - mu_np) / sd_np)


class SondeVAE(nn.Module):
    def __init__(self, d_in=2 * LEVELS, hidden=96, latent=LATENT):
        super().__init__()
        self.enc1 = nn.Linear(d_in, hidden)
        self.enc2 = nn.Linear(hidden, hidden)
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.dec1 = nn.Linear(latent, hidden)
        self.dec2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, d_in)

    def encode(self, x):
        h = nn.silu(self.enc2(nn.silu(self.enc1(x))))
        return self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)

    def decode(self, z):
        return self.out(nn.silu(self.dec2(nn.silu(self.dec1(z)))))

    def __call__(self, x):
        mu, logvar = self.encode(x)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def terms(model, x):
    recon, mu, logvar = model(x)
    rec = 0.5 * mx.sum(mx.square(recon - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1.0 + logvar - mx.square(mu) - mx.exp(logvar), axis=1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(1147)
model = SondeVAE()
mx.eval(model.parameters())

warm = 100
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, STEPS - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)

grad_fn = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (rec, kl)), grads = grad_fn(model, x, beta)
    opt.update(model, grads)
    return loss, rec, kl


def beta_at(step):
    period = STEPS // CYCLES
    phase = (step % period) / period
    return min(1.0, 2.0 * phase)


def heldout():
    rec, kl = terms(model, test_x)
    mx.eval(rec, kl)
    return rec.item(), kl.item()


# climatology baseline: predict the training mean everywhere (=0 after scaling)
clim_rec = 0.5 * float(mx.sum(mx.square(test_x), axis=1).mean().item())

tic = time.time()
n = train_x.shape[0]
perm = np.arange(n)
cursor = n
for step in range(STEPS):
    if cursor + BATCH > n:
        rng.shuffle(perm)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    beta = beta_at(step)
    loss, rec, kl = train_step(train_x[idx], mx.array(beta))
    mx.eval(state, loss, rec, kl)

    if step % 60 == 0 or step == STEPS - 1:
        rec_t, kl_t = heldout()
        print(json.dumps({
            "it": step,
            "cycle": step // (STEPS // CYCLES),
            "beta": round(beta, 3),
            "lr": float(f"{opt.learning_rate.item():.3e}"),
            "neg_elbo_b": round(loss.item(), 3),
            "rec": round(rec.item(), 3),
            "kl_nats": round(kl.item(), 3),
            "test_rec": round(rec_t, 3),
            "test_kl": round(kl_t, 3),
            "clim_rec": round(clim_rec, 3),
        }))

rec_t, kl_t = heldout()
print(json.dumps({
    "summary": True,
    "test_neg_elbo": round(rec_t + kl_t, 3),
    "test_rec": round(rec_t, 3),
    "test_kl": round(kl_t, 3),
    "climatology_rec": round(clim_rec, 3),
    "rec_vs_clim_pct": round(100.0 * rec_t / clim_rec, 1),
    "seconds": round(time.time() - tic, 1),
}))
