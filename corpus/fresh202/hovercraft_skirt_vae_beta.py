"""Hovercraft skirt pressure VAE.

16 pressure taps around the flexible skirt of a small hovercraft; each reading
is driven by a few hidden factors (forward speed, yaw rate, wave height, payload
trim).  We fit a small VAE to get a 4-d "ride state" code.  KL weight is annealed
from 0 to 1, the learning rate warms up from 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TAPS = 16
angles = np.linspace(0, 2 * np.pi, N_TAPS, endpoint=False)


def make_rides(n):
    speed = rng.uniform(0.0, 1.0, n)
    yaw = rng.normal(0.0, 0.6, n)
    wave = rng.gamma(2.0, 0.25, n)
    trim = rng.normal(0.0, 0.4, n)
    base = 1.0 + 0.5 * speed[:, None] * np.cos(angles)[None, :]
    side = 0.4 * yaw[:, None] * np.sin(angles)[None, :]
    chop = wave[:, None] * np.abs(np.sin(3 * angles + speed[:, None] * 4.0)) * 0.5
    pitch = 0.3 * trim[:, None] * np.cos(2 * angles)[None, :]
    x = base + side + chop + pitch + rng.normal(0, 0.05, (n, N_TAPS))
    return x.astype(np.float32)


xtr = make_rides(4000)
xva = make_rides(1000)
mu_, sd_ = xtr.mean(0), xtr.std(0)
xtr = mx.array((xtr - mu_) / sd_)
xva = mx.array((xva - mu_) / sd_)


class SkirtVAE(nn.Module):
    def __init__(self, d=N_TAPS, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        eps = mx.random.normal(m.shape, key=key)
        z = m + mx.exp(0.5 * lv) * eps
        return self.dec(z), m, lv


def terms(model, x, key):
    xr, m, lv = model(x, key)
    rec = mx.mean(mx.sum(mx.square(xr - x), axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mx.square(m) - mx.exp(lv), axis=1))
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = SkirtVAE()
mx.eval(model.parameters())
STEPS, BATCH, ANNEAL = 1400, 128, 700
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 120), optim.cosine_decay(2e-3, STEPS - 120, end=1e-4)], [120]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)

# reference: reconstruct every ride with the per-tap mean -> error = number of taps (standardised)
ref_mean = float(mx.mean(mx.sum(mx.square(xva), axis=1)).item())

t0 = time.time()
key = mx.random.key(3)
for step in range(STEPS + 1):
    beta = min(1.0, step / ANNEAL)
    idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
    key, k1, k2 = mx.random.split(key, 3)
    lr_now = float(opt.learning_rate.item()) if step > 0 else 0.0
    (obj, (rec, kl)), grads = vg(model, xtr[idx], k1, beta)
    if step == 0:
        flat = tree_flatten(grads)
        dead = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
        gnorm = math.sqrt(sum(float(mx.sum(g * g).item()) for _, g in flat))
        print(json.dumps({"audit": "grad", "tensors": len(flat), "zero_grad": len(dead), "norm": round(gnorm, 4)}))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, obj, rec, kl)
    if step % 100 == 0:
        vrec, vkl = terms(model, xva, k2)
        print(json.dumps({
            "step": step, "lr": round(lr_now, 6), "beta": round(beta, 3),
            "objective": round(float(obj.item()), 4),
            "terms": {"rec": round(float(rec.item()), 4), "kl_nats": round(float(kl.item()), 4)},
            "val_rec": round(float(vrec.item()), 4), "val_kl_nats": round(float(vkl.item()), 4),
            "ref_rec_mean_ride": round(ref_mean, 4),
        }))

vrec, vkl = terms(model, xva, key)
print(json.dumps({"final": True, "val_elbo_nats": round(float((vrec + vkl).item()), 4),
                  "val_rec": round(float(vrec.item()), 4), "ref_rec_mean_ride": round(ref_mean, 4),
                  "seconds": round(time.time() - t0, 2)}))
