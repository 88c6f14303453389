"""Vineyard frost-fan night logs: beta-VAE over overnight bud-temperature curves.

Each night = 24 half-hourly bud temperatures (deg C) from 18:00 to 06:00, shaped by
clear-sky radiative cooling, an inversion strength and the hour the wind machine
switched on.  KL weight is annealed 0 -> 1, learning rate warms up from exactly 0.
"""
import json
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("frostfan")

T = 24
rng = random.Random(11)


def night():
    dusk = rng.uniform(6.0, 12.0)           # temperature at 18:00
    cool = rng.uniform(0.35, 0.9)           # deg C lost per half hour under clear sky
    inv = rng.uniform(0.5, 3.0)             # inversion strength the fan can mix down
    fan_on = rng.randint(8, 20)             # half-hour slot the machine starts
    out = []
    for k in range(T):
        temp = dusk - cool * 6.0 * (1 - math.exp(-k / 6.0)) * 2.0
        if k >= fan_on:
            temp += inv * (1 - math.exp(-(k - fan_on) / 2.0))
        out.append(temp + rng.gauss(0, 0.15))
    return out


data = mx.array([night() for _ in range(3000)])
mu, sd = data.mean(axis=0), data.std(axis=0) + 1e-6
data = (data - mu) / sd
train, valid = data[:2500], data[2500:]
baseline_mse = float(((valid - train.mean(axis=0)) ** 2).mean())  # predict the mean night


class VAE(nn.Module):
    def __init__(self, z=3, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, T))

    def __call__(self, x):
        hid = self.enc(x)
        m, lv = self.mu(hid), self.logvar(hid)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(zs), m, lv


def terms(model, x):
    xh, m, lv = model(x)
    recon = ((xh - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + lv - m * m - mx.exp(lv)).sum(axis=1)).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(3)
model = VAE()
mx.eval(model.parameters())
EPOCHS, BS = 30, 50
steps_per_epoch = train.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm]
)
opt = optim.Adam(learning_rate=sched)
state = [model.state, opt.state, mx.random.state]
vg = nn.value_and_grad(model, loss_fn)


def step(x, beta):
    (loss, (recon, kl)), grads = vg(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


step = mx.compile(step, inputs=state, outputs=state)

# audit: every trainable tensor must receive gradient
(_, _), g0 = vg(model, train[:BS], mx.array(1.0))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, %d with zero grad, grad norm %.3f; lr at step 0 = %.1f",
         len(tree_flatten(g0)), len(zero), float(optim.clip_grad_norm(g0, 1e9)[1]), float(sched(mx.array(0))))

for epoch in range(EPOCHS):
    beta = min(1.0, epoch / 10.0)  # KL annealing over the first 10 epochs
    perm = mx.random.permutation(train.shape[0])
    tl = tr = tk = 0.0
    for b in range(steps_per_epoch):
        x = train[perm[b * BS:(b + 1) * BS]]
        loss, recon, kl = step(x, mx.array(beta))
        mx.eval(loss, recon, kl, state)
        tl += loss.item(); tr += recon.item(); tk += kl.item()
    vr, vk = terms(model, valid)
    vr, vk = vr.item(), vk.item()
    rec = {
        "epoch": epoch + 1,
        "beta": round(beta, 2),
        "lr": float(f"{opt.learning_rate.item():.3g}"),
        "train_obj": round(tl / steps_per_epoch, 3),
        "recon_sse": round(tr / steps_per_epoch, 3),
        "kl_nats": round(tk / steps_per_epoch, 3),
        "val_elbo": round(-(vr + vk), 3),
        "val_mse_per_point": round(vr / T, 4),
        "ref_mean_night_mse": round(baseline_mse, 4),
    }
    log.info(json.dumps(rec))

log.info("done: val per-point MSE %.4f vs mean-night reference %.4f", vr / T, baseline_mse)
