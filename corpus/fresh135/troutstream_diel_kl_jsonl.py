"""Compress 24-h water-temperature curves from trout-stream loggers into a
3-number code with a small beta-VAE.  The KL weight is annealed 0 -> 1 over
the first part of the run, and the learning rate warms up from exactly 0.
One JSON record per epoch goes to stdout so it can be piped into jq."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2406)
mx.random.seed(2406)

HOURS = 16          # logger samples every 90 minutes
N_TRAIN, N_VAL = 1280, 256
N = N_TRAIN + N_VAL

# --- synthetic logger curves -------------------------------------------------
t = np.linspace(0.0, 24.0, HOURS, endpoint=False)
base = rng.normal(11.0, 2.2, N)                 # deg C mean of the day
swing = rng.gamma(3.0, 0.9, N)                  # diel amplitude (sun on riffles)
peak = rng.uniform(13.0, 18.0, N)               # hour of the daily maximum
shade = rng.beta(2.0, 3.0, N)                   # canopy cover flattens the curve
spring = rng.binomial(1, 0.25, N)               # groundwater seep damps everything
amp = swing * (1.0 - 0.6 * shade) * (1.0 - 0.7 * spring)
curves = base[:, None] + amp[:, None] * np.cos(2 * np.pi * (t[None, :] - peak[:, None]) / 24.0)
curves += 0.35 * amp[:, None] * np.cos(4 * np.pi * (t[None, :] - peak[:, None]) / 24.0)
curves += rng.normal(0.0, 0.15, curves.shape)

mean, std = curves[:N_TRAIN].mean(0), curves[:N_TRAIN].std(0)
Z = ((curves - mean) / std).astype(np.float32)
x_train, x_val = mx.array(Z[:N_TRAIN]), mx.array(Z[N_TRAIN:])

# PCA with the same code size, as a yardstick
LATENT = 3
_, _, vt = np.linalg.svd(Z[:N_TRAIN] - Z[:N_TRAIN].mean(0), full_matrices=False)
proj = vt[:LATENT]
zv = Z[N_TRAIN:] - Z[:N_TRAIN].mean(0)
pca_rec = float(((zv - zv @ proj.T @ proj) ** 2).sum(1).mean())


class DielVAE(nn.Module):
    def __init__(self, d_in, hidden, latent):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, d_in))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x):
    xhat, mu, logvar = model(x)
    rec = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + logvar - mu * mu - mx.exp(logvar), axis=1))
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


model = DielVAE(HOURS, 48, LATENT)
mx.eval(model.parameters())

EPOCHS, BATCH = 36, 64
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 2e-4)], [warm])
opt = optim.Adamax(learning_rate=schedule)

loss_and_grad = nn.value_and_grad(model, lambda m, x, b: objective(m, x, b)[0])
terms_and_grad = nn.value_and_grad(model, objective)

# audit: every weight must receive gradient once the KL term is on
_, g0 = loss_and_grad(model, x_train[:BATCH], mx.array(1.0))
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
dead = [k for k, v in norms.items() if v == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(norms), "zero_norm": dead,
                  "min_norm": round(min(norms.values()), 6)}))
print(json.dumps({"event": "yardstick", "pca3_val_sse": round(pca_rec, 4),
                  "identity_val_sse": round(float((zv ** 2).sum(1).mean()), 4)}))

anneal_steps = 14 * steps_per_epoch
step = 0
t0 = time.perf_counter()
best = (math.inf, -1)
for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(N_TRAIN))
    acc = np.zeros(3)
    for i in range(steps_per_epoch):
        beta = min(1.0, step / anneal_steps)
        xb = x_train[perm[i * BATCH:(i + 1) * BATCH]]
        (loss, (rec, kl)), grads = terms_and_grad(model, xb, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        acc += (loss.item(), rec.item(), kl.item())
        step += 1
    acc /= steps_per_epoch
    vr, vk = terms(model, x_val)
    vr, vk = vr.item(), vk.item()
    velbo = vr + vk
    if velbo < best[0]:
        best = (velbo, epoch)
    print(json.dumps({
        "epoch": epoch, "step": step, "beta": round(beta, 3),
        "lr": float(f"{opt.learning_rate.item():.3g}"),
        "train": {"obj": round(acc[0], 4), "sse": round(acc[1], 4), "kl_nats": round(acc[2], 4)},
        "val": {"sse": round(vr, 4), "kl_nats": round(vk, 4), "neg_elbo": round(velbo, 4)},
        "pca3_sse": round(pca_rec, 4),
    }))

print(json.dumps({"event": "done", "seconds": round(time.perf_counter() - t0, 2),
                  "best_val_neg_elbo": round(best[0], 4), "best_epoch": best[1]}))
