"""Harbour tide-gauge traces -> small beta-VAE.

Each sample is one day of a tide gauge, 48 half-hourly readings (cm about
chart datum): a sum of M2, S2, K1 and O1 tidal constituents with station
specific amplitudes and phases, a slow storm-surge bump and sensor noise.
The VAE squeezes a day into 4 latent numbers.

The KL weight beta is annealed from 0 to 1 over the first 700 steps, so the
total objective climbs while beta grows; the learning rate warms up from
exactly 0. One JSON object per report line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1612)
T = 48
hours = np.arange(T) * 0.5
PERIODS = {"M2": 12.42, "S2": 12.00, "K1": 23.93, "O1": 25.82}


def make_days(n):
    out = np.zeros((n, T), dtype=np.float32)
    for name, per in PERIODS.items():
        base = {"M2": 110.0, "S2": 38.0, "K1": 22.0, "O1": 15.0}[name]
        amp = base * rng.uniform(0.6, 1.4, size=(n, 1))
        ph = rng.uniform(0, 2 * math.pi, size=(n, 1))
        out += amp * np.cos(2 * math.pi * hours[None, :] / per + ph)
    centre = rng.uniform(0, 24, size=(n, 1))
    surge = rng.gamma(2.0, 9.0, size=(n, 1))
    out += surge * np.exp(-0.5 * ((hours[None, :] - centre) / 5.0) ** 2)
    out += rng.normal(0, 4.0, size=(n, T))
    return out


train_np = make_days(6000)
val_np = make_days(1000)
SCALE = 100.0  # cm -> metres-ish units for the network
mean_day = train_np.mean(0, keepdims=True)
x_train = mx.array((train_np - mean_day) / SCALE)
x_val = mx.array((val_np - mean_day) / SCALE)
baseline_mse_cm2 = float(((val_np - mean_day) ** 2).mean())


class TideVAE(nn.Module):
    def __init__(self, d=T, h=96, z=4):
        super().__init__()
        self.enc1 = nn.Linear(d, h)
        self.enc2 = nn.Linear(h, h)
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec1 = nn.Linear(z, h)
        self.dec2 = nn.Linear(h, h)
        self.out = nn.Linear(h, d)

    def encode(self, x):
        h = nn.silu(self.enc2(nn.silu(self.enc1(x))))
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)

    def decode(self, z):
        return self.out(nn.silu(self.dec2(nn.silu(self.dec1(z)))))

    def __call__(self, x):
        mu, logvar = self.encode(x)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.decode(z), mu, logvar


def terms(model, x):
    recon, mu, logvar = model(x)
    rec = mx.mean(mx.sum((recon - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu * mu - mx.exp(logvar), axis=1))
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(7)
model = TideVAE()
mx.eval(model.parameters())

STEPS = 1400
WARM = 100
ANNEAL = 700
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)],
    [WARM],
)
opt = optim.Adam(learning_rate=lr_sched)
step_fn = nn.value_and_grad(model, objective)

# one-off audit: every parameter tensor must receive gradient
_, g0 = step_fn(model, x_train[:256], mx.array(0.5))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

t0 = time.time()
B = 128
n = x_train.shape[0]
perm = np.random.default_rng(3).permutation(n)
pos = 0
for step in range(STEPS + 1):
    if pos + B > n:
        perm = np.random.default_rng(step).permutation(n)
        pos = 0
    idx = mx.array(perm[pos:pos + B])
    pos += B
    beta = min(1.0, step / ANNEAL)
    (loss, (rec, kl)), grads = step_fn(model, x_train[idx], mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rec, kl)
    lr_now = float(opt.learning_rate)  # the rate this update used
    if step % 100 == 0:
        vrec, vkl = terms(model, x_val)
        mx.eval(vrec, vkl)
        val_mse_cm2 = float(vrec) / T * SCALE ** 2
        print(json.dumps({
            "step": step,
            "lr": round(lr_now, 6),
            "beta": round(beta, 3),
            "neg_elbo": round(float(loss), 4),
            "recon": round(float(rec), 4),
            "kl_nats": round(float(kl), 3),
            "val_mse_cm2": round(val_mse_cm2, 1),
            "mean_day_mse_cm2": round(baseline_mse_cm2, 1),
        }))

vrec, vkl = terms(model, x_val)
mx.eval(vrec, vkl)
print(json.dumps({
    "event": "done",
    "val_rmse_cm": round(math.sqrt(float(vrec) / T) * SCALE, 2),
    "mean_day_rmse_cm": round(math.sqrt(baseline_mse_cm2), 2),
    "val_kl_nats": round(float(vkl), 3),
    "seconds": round(time.time() - t0, 1),
}))
