"""Saxophone reed workshop: learn a compact code for reed tone spectra.

Each reed is played on a test mouthpiece; we log the magnitude (dB) of the
first 24 harmonics.  A small VAE learns a 3-d latent "reed character".
The KL weight beta is annealed 0 -> 1 over the first half, so the total
objective climbs while beta grows; the learning rate warms up from 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_HARM = 24
h = np.arange(1, N_HARM + 1, dtype=np.float32)


def make_reeds(n):
    stiff = rng.uniform(2.0, 4.0, size=(n, 1))          # reed strength
    tip = rng.uniform(-1.0, 1.0, size=(n, 1))           # tip thickness offset
    bright = rng.uniform(0.0, 1.0, size=(n, 1))         # vamp cut brightness
    rolloff = -(6.0 + 2.5 * stiff) * np.log2(h)[None, :]
    formant = 9.0 * bright * np.exp(-0.5 * ((h[None, :] - 9.0 - 3.0 * tip) / 2.5) ** 2)
    odd = 4.0 * tip * (h[None, :] % 2 == 1)
    db = rolloff + formant + odd + rng.normal(0, 1.2, size=(n, N_HARM))
    return db.astype(np.float32)


train = make_reeds(3000)
test = make_reeds(600)
mu_db, sd_db = train.mean(0), train.std(0) + 1e-6
Xtr = mx.array((train - mu_db) / sd_db)
Xte = mx.array((test - mu_db) / sd_db)
SD = mx.array(sd_db)


class ReedVAE(nn.Module):
    def __init__(self, d=N_HARM, hid=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, hid), nn.SiLU(), nn.Linear(hid, hid), nn.SiLU())
        self.mu = nn.Linear(hid, z)
        self.logvar = nn.Linear(hid, z)
        self.dec = nn.Sequential(nn.Linear(z, hid), nn.SiLU(), nn.Linear(hid, hid), nn.SiLU(), nn.Linear(hid, d))

    def __call__(self, x, key):
        hdn = self.enc(x)
        mu, lv = self.mu(hdn), mx.clip(self.logvar(hdn), -8.0, 6.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv


def terms(model, x, key):
    xr, mu, lv = model(x, key)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu * mu - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


mx.random.seed(3)
model = ReedVAE()
EPOCHS, BS = 40, 100
steps_per_epoch = Xtr.shape[0] // BS
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, (EPOCHS - 2) * steps_per_epoch, 1e-4)],
    [warm],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)

# check every parameter receives gradient
(_, _), g0 = vg(model, Xtr[:BS], mx.random.key(0), mx.array(0.5))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

key = mx.random.key(11)
t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / (EPOCHS / 2))
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot = rec_s = kl_s = 0.0
    for b in range(steps_per_epoch):
        key, sub = mx.random.split(key)
        xb = Xtr[perm[b * BS:(b + 1) * BS]]
        (loss, (rec, kl)), grads = vg(model, xb, sub, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item(); rec_s += rec.item(); kl_s += kl.item()
    key, sub = mx.random.split(key)
    _, mu_te, _ = model(Xte, sub)
    xr_te = model.dec(mu_te)
    rmse_db = mx.sqrt(mx.mean(((xr_te - Xte) * SD) ** 2)).item()
    rec_te, kl_te = terms(model, Xte, sub)
    rec = {
        "ep": ep + 1, "beta": round(beta, 3), "lr": float(opt.learning_rate.item()),
        "elbo_obj": round(tot / steps_per_epoch, 3), "recon": round(rec_s / steps_per_epoch, 3),
        "kl_nats": round(kl_s / steps_per_epoch, 3), "test_recon": round(rec_te.item(), 3),
        "test_kl": round(kl_te.item(), 3), "spec_rmse_dB": round(rmse_db, 3),
        "ref_rmse_dB_meanreed": round(float(np.sqrt((sd_db ** 2).mean())), 3),
    }
    print(json.dumps(rec))
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}))
