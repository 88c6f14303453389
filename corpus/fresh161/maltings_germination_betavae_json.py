"""Malting floor: beta-VAE over 24-hour germination-bed temperature traces.

Each trace is 24 hourly readings (deg C) of a germination bed, shaped by three
hidden things: steep-out moisture (how fast the bed heats), turning schedule
(a dip when the maltster turns the bed) and air-on temperature (offset).
We fit a small VAE, warming the learning rate up from exactly zero and
annealing beta from 0 to 1, so the total objective *rises* while the KL term
is switched on.  Progress is printed as JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1162)
T = 24
hours = np.arange(T, dtype=np.float32)


def make_traces(n):
    moist = rng.uniform(0.1, 0.35, size=(n, 1)).astype(np.float32)
    turn_at = rng.uniform(6, 18, size=(n, 1)).astype(np.float32)
    air = rng.uniform(12.0, 17.0, size=(n, 1)).astype(np.float32)
    rise = 6.0 * (1.0 - np.exp(-moist * hours[None, :]))
    dip = -2.2 * np.exp(-0.5 * ((hours[None, :] - turn_at) / 1.3) ** 2)
    x = air + rise + dip + rng.normal(0, 0.15, size=(n, T)).astype(np.float32)
    return x.astype(np.float32)


train_np = make_traces(4096)
valid_np = make_traces(512)
mu_np = train_np.mean(axis=0, keepdims=True)
sd_np = float(train_np.std()) + 1e-6
train = mx.array((train_np - mu_np) / sd_np)
valid = mx.array((valid_np - mu_np) / sd_np)
# reference: predicting the mean curve for every bed (per-reading MSE in deg C^2)
mean_curve_mse = float(((valid_np - mu_np) ** 2).mean())


class BedVAE(nn.Module):
    def __init__(self, d_in=T, hidden=64, z_dim=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.to_mu = nn.Linear(hidden, z_dim)
        self.to_logvar = nn.Linear(hidden, z_dim)
        self.dec = nn.Sequential(nn.Linear(z_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, d_in))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu = self.to_mu(h)
        logvar = mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def vae_terms(model, x, eps):
    recon, mu, logvar = model(x, eps)
    rec = mx.sum((recon - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu * mu - mx.exp(logvar), axis=1)).mean()
    return rec, kl


mx.random.seed(1162)
model = BedVAE()
mx.eval(model.parameters())

EPOCHS = 30
BATCH = 128
steps_per_epoch = train.shape[0] // BATCH
total_steps = EPOCHS * steps_per_epoch
warm_steps = 3 * steps_per_epoch
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm_steps),
     optim.cosine_decay(2e-3, total_steps - warm_steps, 1e-4)],
    [warm_steps],
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
beta_box = mx.array(0.0)


def loss_fn(model, x, eps, beta):
    rec, kl = vae_terms(model, x, eps)
    return rec + beta * kl, (rec, kl)


grad_fn = nn.value_and_grad(model, loss_fn)
opt.init(model.trainable_parameters())
state = [model.state, opt.state, mx.random.state]


def compiled_step(x, beta):
    eps = mx.random.normal((x.shape[0], 3))
    (loss, (rec, kl)), grads = grad_fn(model, x, eps, beta)
    opt.update(model, grads)
    return loss, rec, kl


step_fn = mx.compile(compiled_step, inputs=state, outputs=state)

# one-off audit: every parameter group gets a gradient
eps0 = mx.random.normal((BATCH, 3))
_, g0 = grad_fn(model, train[:BATCH], eps0, mx.array(1.0))
from mlx.utils import tree_flatten
gnorms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "n_tensors": len(gnorms),
                  "min_grad_norm": round(min(gnorms.values()), 6)}))

t0 = time.time()
perm_rng = np.random.default_rng(7)
for epoch in range(EPOCHS):
    beta = min(1.0, max(0.0, (epoch - 4) / 12.0))  # 0 for 5 epochs, then ramps to 1 by epoch 16
    beta_arr = mx.array(beta)
    perm = mx.array(perm_rng.permutation(train.shape[0]))
    tot = rec_sum = kl_sum = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, rec, kl = step_fn(train[idx], beta_arr)
        mx.eval(loss, rec, kl, model.parameters(), opt.state)
        tot += loss.item(); rec_sum += rec.item(); kl_sum += kl.item()
    # validation: reconstruct from the posterior mean (eps = 0)
    vrec, vkl = vae_terms(model, valid, mx.zeros((valid.shape[0], 3)))
    vmse_degc2 = float(vrec.item()) / T * sd_np ** 2
    print(json.dumps({
        "epoch": epoch + 1,
        "lr": round(float(opt.learning_rate.item()), 6),
        "beta": round(beta, 3),
        "elbo_obj": round(tot / steps_per_epoch, 4),
        "rec": round(rec_sum / steps_per_epoch, 4),
        "kl_nats": round(kl_sum / steps_per_epoch, 4),
        "val_mse_degC2": round(vmse_degc2, 4),
        "ref_mean_curve_mse_degC2": round(mean_curve_mse, 4),
    }))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2),
                  "final_val_mse_degC2": round(vmse_degc2, 4),
                  "vs_mean_curve": f"{100.0 * vmse_degc2 / mean_curve_mse:.1f}%"}))
