"""Shoji workshop: learn a 2-d latent model of washi paper light-transmission spectra.

Each sheet is measured at 12 wavelengths (400-730 nm).  The spectra come from two hidden
causes - fibre density (kozo vs. mitsumata blend) and sizing/aging yellowness - pushed
through a made-up absorption law plus sensor noise.  A small VAE is trained with
KL annealing (beta ramps from 0 to 1) and a learning rate that warms up from 0.
One JSON object per epoch on stdout.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(1162)
WAVES = np.linspace(400, 730, 12)


def make_sheets(n):
    density = rng.uniform(-1.0, 1.0, size=(n, 1))          # fibre density
    yellow = rng.beta(2.0, 3.0, size=(n, 1)) * 2.0 - 0.8   # sizing / age
    w = (WAVES[None, :] - 400.0) / 330.0
    absorb = 0.6 + 0.45 * density + yellow * np.exp(-3.5 * w) * 1.4 + 0.15 * density * yellow
    trans = 100.0 * np.exp(-absorb)                         # percent transmission
    trans += rng.normal(0.0, 0.6, size=trans.shape)
    return trans.astype(np.float32)


train_np = make_sheets(2400)
val_np = make_sheets(400)
mu_np, sd_np = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_np) / sd_np)
val = mx.array((val_np - mu_np) / sd_np)


class SheetVAE(nn.Module):
    def __init__(self, d=12, h=40, z=2):
        super().__init__()
        self.enc1 = nn.Linear(d, h)
        self.enc2 = nn.Linear(h, h)
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec1 = nn.Linear(z, h)
        self.dec2 = nn.Linear(h, h)
        self.out = nn.Linear(h, d)

    def encode(self, x):
        h = nn.gelu(self.enc2(nn.gelu(self.enc1(x))))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z):
        return self.out(nn.gelu(self.dec2(nn.gelu(self.dec1(z)))))

    def __call__(self, x, key):
        mu, logvar = self.encode(x)
        eps = mx.random.normal(mu.shape, key=key)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def terms(model, x, key):
    recon, mu, logvar = model(x, key)
    rec = mx.sum(mx.square(recon - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1.0 + logvar - mx.square(mu) - mx.exp(logvar), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


mx.random.seed(7)
model = SheetVAE()
mx.eval(model.parameters())

EPOCHS, BATCH = 30, 64
steps_per_epoch = train.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.Adam(learning_rate=lr_sched)
grad_fn = nn.value_and_grad(model, objective)

RAMP_EPOCHS = 12
root = mx.random.key(99)
t0 = time.time()
step = 0
for ep in range(EPOCHS):
    beta = min(1.0, ep / RAMP_EPOCHS)
    perm = mx.array(rng.permutation(train.shape[0]))
    s_rec = s_kl = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        root, key = mx.random.split(root)
        (loss, (rec, kl)), grads = grad_fn(model, train[idx], key, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        s_rec += rec.item()
        s_kl += kl.item()
        step += 1
    v_rec, v_kl = terms(model, val, mx.random.key(5))
    mx.eval(v_rec, v_kl)
    n = steps_per_epoch
    print(json.dumps({
        "epoch": ep,
        "lr": round(float(lr_sched(mx.array(step))), 6),
        "beta": round(beta, 3),
        "recon": round(s_rec / n, 4),
        "kl_nats": round(s_kl / n, 4),
        "objective": round(s_rec / n + beta * s_kl / n, 4),
        "val_neg_elbo": round(v_rec.item() + v_kl.item(), 4),
    }))

# baseline: best possible linear 2-d reconstruction (PCA) on the same standardised data
tn = np.array(train)
vn = np.array(val)
_, _, vt = np.linalg.svd(tn - tn.mean(0), full_matrices=False)
P = vt[:2].T
pca_rec = float(np.sum(np.square((vn - tn.mean(0)) @ P @ P.T - (vn - tn.mean(0))), axis=1).mean())
mu_v, _ = model.encode(val)
vae_rec = float(mx.sum(mx.square(model.decode(mu_v) - val), axis=1).mean().item())
print(json.dumps({
    "summary": True,
    "val_recon_vae_mean_z": round(vae_rec, 4),
    "val_recon_pca2_reference": round(pca_rec, 4),
    "val_recon_zero_reference": round(float(np.sum(np.square(vn), axis=1).mean()), 4),
    "seconds": round(time.time() - t0, 2),
}))
