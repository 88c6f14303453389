"""Miso brewery: VAE over 24-hour koji/miso vat temperature curves.

Each curve is 24 hourly readings (deg C): a warm-up ramp, an exothermic peak
whose height and hour vary per vat, then a slow cool-down after the mixer
turns over.  We fit a small VAE with a CYCLICAL beta (KL) schedule: beta ramps
0 -> 1 over half a cycle, then holds, then restarts at 0.  The total loss
therefore climbs as beta ramps even while the model improves.
The learning rate warms up linearly from exactly 0.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s vat-vae | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("miso")

rng = np.random.default_rng(11)
T = 24


def make_curves(n):
    h = np.arange(T)[None, :]
    base = rng.uniform(24, 28, (n, 1))
    peak_h = rng.uniform(8, 16, (n, 1))
    peak = rng.uniform(6, 14, (n, 1))
    width = rng.uniform(2.5, 4.5, (n, 1))
    cool = rng.uniform(0.05, 0.25, (n, 1))
    curve = base + peak * np.exp(-0.5 * ((h - peak_h) / width) ** 2) - cool * np.maximum(h - peak_h, 0)
    curve += rng.normal(0, 0.3, curve.shape)
    return curve.astype(np.float32)


train = make_curves(3000)
valid = make_curves(500)
mu, sd = train.mean(), train.std()
Xtr = mx.array((train - mu) / sd)
Xva = mx.array((valid - mu) / sd)


class VatVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        e = self.enc(x)
        m, lv = self.to_mu(e), mx.clip(self.to_logvar(e), -8, 8)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(zs), m, lv


def terms(model, x, key):
    xr, m, lv = model(x, key)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1)).mean()
    return rec, kl


def loss_fn(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


mx.random.seed(3)
model = VatVAE()
mx.eval(model.parameters())

EPOCHS, BS = 36, 100
steps_per_epoch = Xtr.shape[0] // BS
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, total - warm, 2e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

CYCLE = 12  # epochs per beta cycle


def beta_at(ep_float):
    pos = (ep_float % CYCLE) / CYCLE
    return min(1.0, 2.0 * pos)


grad_fn = nn.value_and_grad(model, loss_fn)
key = mx.random.key(7)

# baseline: reconstruct every curve by the training mean curve
mean_curve = Xtr.mean(axis=0, keepdims=True)
base_rec = mx.sum((Xva - mean_curve) ** 2, axis=1).mean().item()
log.info("baseline (mean-curve) recon on valid = %.3f  (std units^2 summed over 24 h)", base_rec)

checked = False
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    acc = [0.0, 0.0, 0.0]
    for i in range(steps_per_epoch):
        key, sub = mx.random.split(key)
        beta = beta_at(ep + i / steps_per_epoch)
        xb = Xtr[perm[i * BS:(i + 1) * BS]]
        (loss, (rec, kl)), grads = grad_fn(model, xb, sub, mx.array(beta))
        if not checked:
            flat = nn.utils.tree_flatten(grads)
            zero = [k for k, g in flat if mx.abs(g).sum().item() == 0.0]
            log.info("grad audit: %d tensors, %d with zero grad %s", len(flat), len(zero), zero)
            checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        acc[0] += loss.item(); acc[1] += rec.item(); acc[2] += kl.item()
    n = steps_per_epoch
    key, vk = mx.random.split(key)
    vrec, vkl = terms(model, Xva, vk)
    log.info("epoch %02d beta=%.2f lr=%.2e | total %.3f rec %.3f kl %.3f | valid rec %.3f kl %.3f (base %.3f)",
             ep, beta_at(ep + 1 - 1e-9), sched(opt.step).item(), acc[0] / n, acc[1] / n, acc[2] / n,
             vrec.item(), vkl.item(), base_rec)

# final: reconstruction in deg C
xr, m, _ = model(Xva, mx.random.key(0))
err_c = (mx.abs(model.dec(m) - Xva) * sd).mean().item()
log.info("final mean-latent reconstruction MAE %.2f degC (mean-curve MAE %.2f degC)",
         err_c, (mx.abs(mean_curve - Xva) * sd).mean().item())
