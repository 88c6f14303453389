"""Dendrochronology: a small beta-VAE over standardised tree-ring width series.

Each sample is 40 annual ring widths from one core: a shared regional climate
signal (by site), a negative-exponential age trend and core noise. The KL weight
is annealed from 0 to 1, so the total objective climbs for a while on purpose.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1721)
YEARS = 40
N_SITES = 6
site_climate = rng.normal(0, 1, size=(N_SITES, YEARS)).cumsum(axis=1) * 0.25


def make_cores(n):
    site = rng.integers(0, N_SITES, size=n)
    age0 = rng.uniform(5, 60, size=n)
    t = np.arange(YEARS)[None, :]
    trend = 1.8 * np.exp(-(age0[:, None] + t) / 35.0) + 0.4
    clim = site_climate[site] * rng.uniform(0.6, 1.3, size=(n, 1))
    width = trend * np.exp(0.35 * clim) + rng.normal(0, 0.05, size=(n, YEARS))
    x = np.log(np.clip(width, 0.05, None))
    return x.astype(np.float32)


Xtr = make_cores(768)
Xva = make_cores(192)
mu_, sd_ = Xtr.mean(0, keepdims=True), Xtr.std(0, keepdims=True) + 1e-6
Xtr = mx.array((Xtr - mu_) / sd_)
Xva = mx.array((Xva - mu_) / sd_)


class RingVAE(nn.Module):
    def __init__(self, d=YEARS, h=96, z=6):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, key=None):
        hcode = self.enc(x)
        mu, logvar = self.to_mu(hcode), self.to_logvar(hcode)
        if key is None:
            z = mu
        else:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xhat, mu, logvar = model(x, key)
    recon = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu**2 - mx.exp(logvar), axis=1))
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = RingVAE()
mx.eval(model.parameters())

EPOCHS, BATCH = 60, 64
steps_per_epoch = Xtr.shape[0] // BATCH
total_steps = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_steps - warm, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)

baseline_recon = float(mx.mean(mx.sum(Xva**2, axis=1)))  # predict the per-year mean of train

key = mx.random.key(7)
print(json.dumps({"event": "start", "cores_train": int(Xtr.shape[0]), "cores_val": int(Xva.shape[0]),
                  "years": YEARS, "params": sum(v.size for _, v in tree_flatten(model.parameters())),
                  "baseline_val_recon": round(baseline_recon, 3)}))

t0 = time.time()
step = 0
for ep in range(EPOCHS):
    beta = min(1.0, ep / 30.0)  # KL weight ramps 0 -> 1 over the first 30 epochs
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    s_obj = s_rec = s_kl = 0.0
    for b in range(steps_per_epoch):
        key, sub = mx.random.split(key)
        xb = Xtr[perm[b * BATCH:(b + 1) * BATCH]]
        (obj, (rec, kl)), grads = vg(model, xb, sub, beta)
        if step == 0:
            gn = {k: round(float(mx.linalg.norm(g)), 4) for k, g in tree_flatten(grads)}
            print(json.dumps({"event": "grad_audit", "zero_grad_tensors": sum(v == 0.0 for v in gn.values()),
                              "min_norm": min(gn.values()), "max_norm": max(gn.values())}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, rec, kl)
        s_obj += obj.item(); s_rec += rec.item(); s_kl += kl.item()
        step += 1
    if ep % 5 == 4 or ep == 0:
        vrec, vkl = terms(model, Xva, None)
        print(json.dumps({"ep": ep + 1, "beta": round(beta, 3), "lr": round(float(lr(step)), 6),
                          "obj": round(s_obj / steps_per_epoch, 4), "recon": round(s_rec / steps_per_epoch, 4),
                          "kl_nats": round(s_kl / steps_per_epoch, 4), "val_recon": round(vrec.item(), 4),
                          "val_kl": round(vkl.item(), 4), "ref_mean_series": round(baseline_recon, 3)}))

vrec, vkl = terms(model, Xva, None)
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                  "val_recon": round(vrec.item(), 4), "val_kl": round(vkl.item(), 4),
                  "explained_pct": round(100 * (1 - vrec.item() / baseline_recon), 1)}))
