"""VAE on synthetic otolith Sr/Ca laser-ablation transects (core -> edge, mmol/mol):
freshwater baseline, a logistic step at the sea-entry spot, winter/summer banding, noise.

KL weight (beta) is warmed from 0 to 1 over the first epochs, so the ELBO-style total
rises while beta ramps up; learning rate warms up linearly from exactly 0.
Writes one JSON object per epoch to stdout.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
WIN, LATENT, N = 48, 4, 1536


def transects(n):
    spot = np.linspace(0, 1, WIN)[None, :]               # core (0) to edge (1)
    fresh = rng.uniform(0.5, 1.1, size=(n, 1))           # freshwater Sr/Ca, mmol/mol
    marine = rng.uniform(2.0, 3.2, size=(n, 1))          # marine Sr/Ca, mmol/mol
    entry = rng.uniform(0.2, 0.8, size=(n, 1))           # where the fish went to sea
    step = 1.0 / (1.0 + np.exp(-(spot - entry) / 0.03))
    years = rng.uniform(3, 6, size=(n, 1))               # annual bands crossed
    band = 0.15 * np.sin(2 * np.pi * years * spot + rng.uniform(0, 6.3, size=(n, 1)))
    x = fresh + (marine - fresh) * step + band
    x += rng.normal(0, 0.05, size=x.shape)
    return x.astype(np.float32)


raw = transects(N)
mu_all, sd_all = float(raw.mean()), float(raw.std())
data = mx.array((raw - mu_all) / sd_all)
train, valid = data[:1280], data[1280:]


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(WIN, 96), nn.SiLU(), nn.Linear(96, 64), nn.SiLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 96),
                                 nn.SiLU(), nn.Linear(96, WIN))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xh, mu, logvar = model(x, key)
    recon = mx.sum(mx.square(xh - x), axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu * mu - mx.exp(logvar), axis=-1)).mean()
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


mx.random.seed(3)
model = VAE()
EPOCHS, BS = 24, 64
steps_per_epoch = train.shape[0] // BS
warm = optim.linear_schedule(0.0, 2e-3, 3 * steps_per_epoch)
decay = optim.cosine_decay(2e-3, (EPOCHS - 3) * steps_per_epoch, 1e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [3 * steps_per_epoch]),
                  weight_decay=1e-4)

grad_fn = nn.value_and_grad(model, lambda m, x, k, b: objective(m, x, k, b))
key = mx.random.key(0)
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / 10.0)            # KL warm-up: 0.0, 0.1, ..., 1.0
    perm = mx.array(rng.permutation(train.shape[0]))
    tot = rec = kls = 0.0
    lr_first = opt.learning_rate.item()
    for i in range(steps_per_epoch):
        key, sub = mx.random.split(key)
        xb = train[perm[i * BS:(i + 1) * BS]]
        (loss, (recon, kl)), grads = grad_fn(model, xb, sub, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, recon, kl)
        tot += loss.item(); rec += recon.item(); kls += kl.item()
    vkey = mx.random.key(1000 + epoch)
    vrec, vkl = terms(model, valid, vkey)
    # reconstruction error back in mmol/mol, mean-decoded (no sampling noise)
    h = model.enc(valid)
    rmse = mx.sqrt(mx.mean(mx.square(model.dec(model.mu(h)) - valid))).item() * sd_all
    print(json.dumps({
        "epoch": epoch, "beta": round(beta, 2), "lr_start": float(f"{lr_first:.3g}"),
        "total": round(tot / steps_per_epoch, 4), "recon": round(rec / steps_per_epoch, 4),
        "kl_nats": round(kls / steps_per_epoch, 4),
        "val_elbo": round(vrec.item() + vkl.item(), 4),
        "val_rmse_mmol_mol": round(rmse, 4), "spot_noise_sd": 0.05,
    }))
