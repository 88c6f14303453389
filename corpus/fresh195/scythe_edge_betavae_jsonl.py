# Hay-meadow scythe maintenance: beta-VAE of blade edge thickness profiles.
# Each profile = 24 thickness readings (microns, log-scaled) across the bevel,
# made from 3 hidden factors: peening angle, hammer blows, whetstone grit.
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
N_TRAIN, N_VAL, D, Z = 12000, 1500, 24, 3


def make_profiles(n):
    angle = rng.uniform(0.0, 1.0, n)
    blows = rng.uniform(0.0, 1.0, n)
    grit = rng.uniform(0.0, 1.0, n)
    x = np.linspace(0.0, 1.0, D)[None, :]
    base = 1.8 + 2.2 * x ** (0.6 + 0.8 * angle[:, None])
    ripple = 0.25 * blows[:, None] * np.sin(6.0 * np.pi * x + 3.0 * grit[:, None])
    burr = 0.4 * (1 - grit[:, None]) * np.exp(-((x - 0.03) ** 2) / 0.002)
    prof = base + ripple + burr + 0.05 * rng.standard_normal((n, D))
    return prof.astype(np.float32)


raw = make_profiles(N_TRAIN + N_VAL)
mu, sd = raw[:N_TRAIN].mean(0), raw[:N_TRAIN].std(0) + 1e-6
data = (raw - mu) / sd
Xtr, Xva = mx.array(data[:N_TRAIN]), mx.array(data[N_TRAIN:])


class EdgeVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.to_mu = nn.Linear(64, Z)
        self.to_logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, D))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    rec, m, lv = model(x, key)
    recon = mx.sum((rec - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1)).mean()
    return recon, kl


def loss_fn(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


mx.random.seed(5)
model = EdgeVAE()
opt = optim.Adamax(learning_rate=2e-3)
state = [model.state, opt.state]
vg = nn.value_and_grad(model, loss_fn)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, key, beta):
    (loss, (recon, kl)), grads = vg(model, x, key, beta)
    opt.update(model, grads)
    return loss, recon, kl


EPOCHS, BS, RAMP = 24, 200, 10
baseline = float(mx.sum(Xva * Xva, axis=1).mean())  # mean-profile reconstruction
key = mx.random.key(99)
t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / RAMP)  # KL weight annealed from 0 -> 1
    perm = np.random.default_rng(ep).permutation(N_TRAIN)
    s_loss = s_rec = s_kl = 0.0
    nb = 0
    for i in range(0, N_TRAIN, BS):
        key, sub = mx.random.split(key)
        idx = mx.array(perm[i:i + BS])
        loss, rec, kl = train_step(Xtr[idx], sub, mx.array(beta))
        mx.eval(state, loss, rec, kl)
        s_loss += loss.item(); s_rec += rec.item(); s_kl += kl.item(); nb += 1
    key, sub = mx.random.split(key)
    vrec, vkl = terms(model, Xva, sub)
    mx.eval(vrec, vkl)
    print(json.dumps({
        "epoch": ep + 1, "beta": round(beta, 3),
        "train_elbo_loss": round(s_loss / nb, 4), "train_recon": round(s_rec / nb, 4),
        "train_kl_nats": round(s_kl / nb, 4),
        "val_recon": round(vrec.item(), 4), "val_kl_nats": round(vkl.item(), 4),
        "val_recon_baseline": round(baseline, 4),
        "sec": round(time.time() - t0, 2),
    }), flush=True)
print(json.dumps({"done": True, "val_recon_vs_baseline_pct": round(100 * vrec.item() / baseline, 2)}))
