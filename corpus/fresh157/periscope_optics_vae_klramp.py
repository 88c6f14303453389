# Periscope optics survey: learn a compact latent description of the
# 12-point distortion profile measured through an attack periscope's
# objective lens (synthetic). A small VAE with a KL weight that ramps
# from 0 to 1 and a learning rate that warms up from exactly 0.
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1957)
N_TRAIN, N_HOLD, D, Z = 1536, 384, 12, 3


def make_profiles(n):
    depth = rng.uniform(-1, 1, size=(n, 1))        # keel depth (scaled)
    sea = rng.uniform(-1, 1, size=(n, 1))          # sea state
    temp = rng.normal(0, 0.7, size=(n, 1))         # lens housing temperature
    angles = np.linspace(-1.0, 1.0, D)[None, :]
    prof = (0.9 * depth * angles ** 2
            + 0.6 * np.sin(2.5 * angles + 1.5 * sea)
            + 0.4 * temp * angles
            + 0.25 * np.tanh(depth * sea))
    prof += rng.normal(0, 0.06, size=prof.shape)
    return prof.astype(np.float32)


train_np = make_profiles(N_TRAIN)
hold_np = make_profiles(N_HOLD)
mu_np, sd_np = train_np.mean(0), train_np.std(0) + 1e-6
train = mx.array((train_np - mu_np) / sd_np)
hold = mx.array((hold_np - mu_np) / sd_np)
# reference: reconstruction error of always emitting the mean profile
baseline_recon = float(((hold_np - mu_np) / sd_np).__pow__(2).sum(1).mean())


class ProfileVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 32), nn.SiLU())
        self.to_mu = nn.Linear(32, Z)
        self.to_logvar = nn.Linear(32, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 32), nn.SiLU(), nn.Linear(32, 48), nn.SiLU(), nn.Linear(48, D))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if sample:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z = mu
        return self.dec(z), mu, logvar


def terms(model, x, sample=True):
    xhat, mu, logvar = model(x, sample)
    recon = mx.sum(mx.square(xhat - x), axis=1).mean()
    kl = (0.5 * mx.sum(mx.exp(logvar) + mx.square(mu) - 1.0 - logvar, axis=1)).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = ProfileVAE()
mx.eval(model.parameters())

EPOCHS, BATCH = 60, 64
steps_per_epoch = N_TRAIN // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)

RAMP_EPOCHS = 24   # beta goes 0 -> 1 linearly over these epochs
print(json.dumps({"event": "start", "train": N_TRAIN, "holdout": N_HOLD, "latent": Z,
                  "baseline_recon": round(baseline_recon, 4), "lr0": float(opt.learning_rate.item())}))

for epoch in range(EPOCHS):
    beta = min(1.0, epoch / RAMP_EPOCHS)
    perm = mx.array(rng.permutation(N_TRAIN))
    acc = np.zeros(3)
    for b in range(steps_per_epoch):
        xb = train[perm[b * BATCH:(b + 1) * BATCH]]
        (loss, (recon, kl)), grads = grad_fn(model, xb, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, recon, kl)
        acc += [loss.item(), recon.item(), kl.item()]
    acc /= steps_per_epoch
    if epoch % 4 == 0 or epoch == EPOCHS - 1:
        h_recon, h_kl = terms(model, hold, sample=False)
        print(json.dumps({
            "epoch": epoch, "beta": round(beta, 3), "lr": round(float(opt.learning_rate.item()), 6),
            "loss": round(acc[0], 4), "recon": round(acc[1], 4), "kl_nats": round(acc[2], 4),
            "hold_recon": round(h_recon.item(), 4), "hold_elbo": round(h_recon.item() + h_kl.item(), 4),
            "baseline_recon": round(baseline_recon, 4),
        }))

h_recon, h_kl = terms(model, hold, sample=False)
ratio = h_recon.item() / baseline_recon
print(json.dumps({"event": "done", "hold_recon": round(h_recon.item(), 4),
                  "hold_kl": round(h_kl.item(), 4), "recon_vs_baseline": round(ratio, 4),
                  "explained_pct": round(100 * (1 - ratio), 2)}))
