"""Pipe-organ voicing: a small VAE over the harmonic spectra of organ pipes.

Each synthetic pipe is a 24-partial log-amplitude spectrum driven by three hidden
voicing choices (flue vs reed mix, brightness / cut-up, and an octave-doubling
'mixture' knob) plus noise.  The KL weight is annealed from 0 to 1, so the total
objective climbs for a while before it settles; the log is JSON lines.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2024)
P = 24
k = mx.arange(1, P + 1).astype(mx.float32)


def pipes(n):
    z = mx.random.normal((n, 3))
    reed = mx.sigmoid(1.5 * z[:, :1])                  # 0 flue .. 1 reed
    bright = 0.6 + 0.25 * z[:, 1:2]                    # spectral slope
    mixture = mx.sigmoid(2.0 * z[:, 2:3])              # even-partial boost
    slope = -bright * mx.log(k)[None, :] * (1.4 - 0.8 * reed)
    odd = (k % 2 == 1).astype(mx.float32)[None, :]
    shape = slope + 0.9 * reed * odd * mx.exp(-k / 12.0)[None, :] + 0.7 * mixture * (1 - odd)
    return shape + 0.08 * mx.random.normal((n, P))


train = pipes(6000)
valid = pipes(1000)
mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-6
train = (train - mu) / sd
valid = (valid - mu) / sd
mx.eval(train, valid)
baseline_mse = float(mx.mean(valid ** 2))      # predicting the average spectrum


class VAE(nn.Module):
    def __init__(self, d=P, h=64, zdim=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, zdim)
        self.logvar = nn.Linear(h, zdim)
        self.dec = nn.Sequential(nn.Linear(zdim, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        e = self.enc(x)
        m, lv = self.mu(e), self.logvar(e)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    xr, m, lv = model(x, key)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m ** 2 - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = VAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, key, beta):
    (loss, (rec, kl)), g = vg(model, x, key, beta)
    opt.update(model, g)
    return loss, rec, kl


EPOCHS, BS = 24, 200
ANNEAL = 12                     # beta goes 0 -> 1 linearly over the first 12 epochs
nb = train.shape[0] // BS
t0 = time.time()
for ep in range(EPOCHS):
    beta = mx.array(min(1.0, ep / ANNEAL), dtype=mx.float32)
    perm = mx.random.permutation(train.shape[0])
    tot = r_sum = k_sum = 0.0
    for b in range(nb):
        xb = train[perm[b * BS:(b + 1) * BS]]
        loss, rec, kl = step(xb, mx.random.key(ep * 1000 + b), beta)
        mx.eval(state, loss, rec, kl)
        tot += loss.item(); r_sum += rec.item(); k_sum += kl.item()
    vrec, vkl = terms(model, valid, mx.random.key(999))
    vrec_mse = vrec.item() / P
    print(json.dumps({
        "epoch": ep, "beta": round(beta.item(), 3),
        "train_obj": round(tot / nb, 4), "train_rec": round(r_sum / nb, 4), "train_kl": round(k_sum / nb, 4),
        "val_elbo": round(vrec.item() + vkl.item(), 4), "val_mse_per_partial": round(vrec_mse, 4),
        "mean_spectrum_mse": round(baseline_mse, 4), "sec": round(time.time() - t0, 2)}))

# how many latent units are actually used (KL per dimension on validation)
e = model.enc(valid)
m, lv = model.mu(e), model.logvar(e)
kl_dim = (-0.5 * (1 + lv - m ** 2 - mx.exp(lv))).mean(axis=0)
print(json.dumps({"summary": True, "kl_per_latent": [round(v, 3) for v in kl_dim.tolist()],
                  "active_latents": int(mx.sum(kl_dim > 0.05).item()),
                  "val_mse_vs_baseline": f"{vrec_mse:.4f} / {baseline_mse:.4f}"}))
