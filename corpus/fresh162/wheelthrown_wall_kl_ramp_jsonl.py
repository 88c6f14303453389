"""Wheel-throwing studio: compress caliper scans of thrown cylinders.

Each pot is measured at 20 heights (wall thickness in mm, base to rim).
A small VAE learns a 3-number code per pot.  The KL weight ramps from 0 to 1
over the first 900 steps, so the total objective climbs while the ramp is on;
the learning rate itself starts at exactly 0 and warms up.
Logs are JSON lines through the logging module.
"""
import json
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
log = logging.getLogger("wheel")

H = 20
rng = np.random.default_rng(4162)


def throw_pots(n):
    z = np.linspace(0.0, 1.0, H)
    clay_kg = rng.uniform(0.5, 2.5, n)[:, None]
    pull = rng.uniform(0.0, 1.0, n)[:, None]          # how hard the walls were pulled up
    rim_roll = rng.uniform(0.0, 1.0, n)[:, None]      # thickened rim
    base = 9.0 + 2.0 * clay_kg - 3.0 * pull
    taper = (2.5 + 3.0 * pull) * z
    bulge = 1.2 * np.sin(np.pi * z) * (1.0 - pull)
    rim = 2.0 * rim_roll * np.exp(-((1.0 - z) / 0.07) ** 2)
    wall = base - taper - bulge + rim + rng.normal(0, 0.15, (n, H))
    return wall.astype(np.float32)


train = throw_pots(6000)
val = throw_pots(1000)
mu, sd = train.mean(0), train.std(0)
Xtr = mx.array((train - mu) / sd)
Xva = mx.array((val - mu) / sd)
sd_mx = mx.array(sd)


class PotVAE(nn.Module):
    def __init__(self, latent=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(H, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU())
        self.to_mu = nn.Linear(32, latent)
        self.to_logvar = nn.Linear(32, latent)
        self.dec = nn.Sequential(nn.Linear(latent, 32), nn.GELU(), nn.Linear(32, 64), nn.GELU(), nn.Linear(64, H))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.to_mu(h), self.to_logvar(h)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    recon = 0.5 * mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m**2 - mx.exp(lv), axis=1)).mean()
    return recon, kl, xh


def objective(model, x, key, beta):
    recon, kl, _ = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


mx.random.seed(11)
model = PotVAE()
STEPS, RAMP, BS = 2400, 900, 128
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 150), optim.cosine_decay(2e-3, STEPS - 150, 1e-4)], [150]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, objective)

# reference: predicting the average pot for every pot
mean_mm = float(mx.sqrt(mx.mean((Xva * sd_mx) ** 2)).item())
log.info(json.dumps({"event": "start", "pots_train": 6000, "pots_val": 1000,
                     "ref_rmse_mm_mean_pot": round(mean_mm, 4),
                     "params": sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}))

key = mx.random.key(0)
t0 = time.time()
for step in range(STEPS + 1):
    beta = min(1.0, step / RAMP)
    key, k1, k2 = mx.random.split(key, 3)
    idx = mx.random.randint(0, Xtr.shape[0], (BS,), key=k1)
    (loss, (recon, kl)), grads = vg(model, Xtr[idx], k2, mx.array(beta))
    if step == 0:
        zero = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
        log.info(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(grads)), "all_zero": zero,
                             "lr_now": float(opt.learning_rate.item())}))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 200 == 0:
        vr, vk, xh = terms(model, Xva, mx.random.key(99))
        rmse_mm = mx.sqrt(mx.mean(((xh - Xva) * sd_mx) ** 2)).item()
        log.info(json.dumps({"step": step, "beta": round(beta, 3), "lr": float(f"{opt.learning_rate.item():.3g}"),
                             "obj": round(loss.item(), 4), "recon": round(recon.item(), 4),
                             "kl_nats": round(kl.item(), 4), "val_recon": round(vr.item(), 4),
                             "val_kl": round(vk.item(), 4), "val_rmse_mm": round(rmse_mm, 4)}))

vr, vk, xh = terms(model, Xva, mx.random.key(99))
rmse_mm = mx.sqrt(mx.mean(((xh - Xva) * sd_mx) ** 2)).item()
log.info(json.dumps({"event": "done", "sec": round(time.time() - t0, 2), "val_elbo": round(-(vr + vk).item(), 4),
                     "val_rmse_mm": round(rmse_mm, 4), "ref_rmse_mm_mean_pot": round(mean_mm, 4),
                     "noise_floor_mm": 0.15}))
