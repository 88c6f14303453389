"""Cave dripwater loggers: beta-VAE over 24-hour drip-count profiles.

Cyclical KL annealing (beta ramps 0 -> 1 inside each of 4 cycles, then restarts),
Adamax with a linear warm-up from lr = 0.  One JSON object per epoch on stdout.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

T, Z, EPOCHS, CYCLES, BS = 24, 3, 32, 4, 64
rs = np.random.default_rng(2024)


def drip_profiles(n):
    # hidden factors: base drip rate, diurnal amplitude, phase of the pressure wave
    base = rs.uniform(0.5, 2.0, size=(n, 1))
    amp = rs.uniform(0.0, 0.8, size=(n, 1))
    phase = rs.uniform(0, 2 * math.pi, size=(n, 1))
    hours = np.arange(T)[None, :]
    rate = base + amp * np.sin(2 * math.pi * hours / T + phase)
    return (rate + rs.normal(0, 0.08, size=(n, T))).astype(np.float32)


train_x = drip_profiles(3000)
valid_x = drip_profiles(600)
mu, sd = train_x.mean(0), train_x.std(0)
train_x, valid_x = (train_x - mu) / sd, (valid_x - mu) / sd
baseline_mse = float(np.mean(valid_x ** 2))  # predicting the mean profile


class DripVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.Tanh(), nn.Linear(64, 2 * Z))
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.Tanh(), nn.Linear(64, T))

    def __call__(self, x, key):
        h = self.enc(x)
        m, logv = h[:, :Z], h[:, Z:]
        z = m + mx.exp(0.5 * logv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, logv


def terms(model, x, key):
    xh, m, logv = model(x, key)
    rec = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logv - m ** 2 - mx.exp(logv), axis=1))
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = DripVAE()
steps_per_epoch = len(train_x) // BS
total = EPOCHS * steps_per_epoch
warm = 3 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 2e-4)], [warm]
)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, objective)
key = mx.random.key(11)
per_cycle = EPOCHS // CYCLES
t0 = time.time()

for ep in range(EPOCHS):
    pos = (ep % per_cycle) / per_cycle
    beta = min(1.0, pos / 0.5)  # ramp over the first half of the cycle, hold at 1
    perm = rs.permutation(len(train_x))
    s_loss = s_rec = s_kl = 0.0
    lr_first = None
    for i in range(steps_per_epoch):
        xb = mx.array(train_x[perm[i * BS:(i + 1) * BS]])
        key, sub = mx.random.split(key)
        if lr_first is None:
            lr_first = float(opt.learning_rate)
        (loss, (rec, kl)), g = vg(model, xb, sub, mx.array(beta))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        s_loss += loss.item(); s_rec += rec.item(); s_kl += kl.item()
    key, sub = mx.random.split(key)
    vrec, vkl = terms(model, mx.array(valid_x), sub)
    mx.eval(vrec, vkl)
    print(json.dumps({
        "epoch": ep, "cycle": ep // per_cycle, "beta": round(beta, 3), "lr_in": round(lr_first, 6),
        "train_elbo": round(s_loss / steps_per_epoch, 4), "recon": round(s_rec / steps_per_epoch, 4),
        "kl_nats": round(s_kl / steps_per_epoch, 4),
        "valid_mse_per_hour": round(vrec.item() / T, 4), "mean_profile_mse": round(baseline_mse, 4),
    }))
print(json.dumps({"summary": True, "seconds": round(time.time() - t0, 2),
                  "final_valid_mse_per_hour": round(vrec.item() / T, 4), "baseline": round(baseline_mse, 4)}))
