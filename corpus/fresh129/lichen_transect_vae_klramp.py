"""Lichen transect survey: a small VAE over 16-quadrat cover profiles.

Each transect runs from a road verge into woodland; percent cover of crustose /
foliose / fruticose lichens in 16 quadrats depends on three hidden things
(air SO2 load, bark pH, humidity).  We fit a VAE with a KL weight that ramps
from 0 to 1, so the *total* objective climbs while the ramp is on; the number
to watch is the reconstruction term against the mean-profile baseline.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(29)
N_TRAIN, N_VAL, Q = 3000, 600, 16


def make_transects(n):
    so2 = rng.uniform(0, 1, n)          # pollution near the road
    ph = rng.normal(0, 1, n)            # bark pH anomaly
    hum = rng.uniform(0, 1, n)          # humidity
    d = np.linspace(0, 1, Q)[None, :]   # distance along transect
    pol = so2[:, None] * np.exp(-3.0 * d)
    crust = 20 + 25 * pol + 4 * ph[:, None] * (1 - d)
    foli = 30 * (1 - pol) * (0.5 + 0.5 * hum[:, None]) + 3 * ph[:, None] * d
    frut = 18 * hum[:, None] * d ** 1.5 * (1 - so2[:, None])
    cover = crust + foli + frut + rng.normal(0, 2.0, (n, Q))
    return np.clip(cover, 0, 100).astype(np.float32)


x_all = make_transects(N_TRAIN + N_VAL)
mu_, sd_ = x_all[:N_TRAIN].mean(0), x_all[:N_TRAIN].std(0)
x_all = (x_all - mu_) / sd_
x_tr, x_va = mx.array(x_all[:N_TRAIN]), mx.array(x_all[N_TRAIN:])
# mean-profile baseline: predict the train mean (0 after standardising)
baseline_mse = float(np.mean(x_all[N_TRAIN:] ** 2))


class TransectVAE(nn.Module):
    def __init__(self, q=Q, h=48, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(q, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, q))

    def __call__(self, x):
        e = self.enc(x)
        mu, lv = self.mu(e), mx.clip(self.logvar(e), -8.0, 6.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def parts(model, x):
    xh, mu, lv = model(x)
    rec = mx.mean(mx.sum((xh - x) ** 2, axis=1)) / Q
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)) / Q
    return rec, kl


def objective(model, x, beta):
    rec, kl = parts(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(3)
model = TransectVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)

# one-off audit: every parameter gets a gradient
_, g0 = nn.value_and_grad(model, lambda m, x: objective(m, x, 1.0)[0])(model, x_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "all_zero": zero}))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (rec, kl)), g = nn.value_and_grad(model, objective)(model, x, beta)
    opt.update(model, g)
    return loss, rec, kl


EPOCHS, BS = 30, 100
RAMP_EPOCHS = 12
t0 = time.time()
print(json.dumps({"event": "start", "train": N_TRAIN, "val": N_VAL, "baseline_val_mse": round(baseline_mse, 4)}))
for ep in range(1, EPOCHS + 1):
    beta = min(1.0, (ep - 1) / RAMP_EPOCHS)
    b = mx.array(beta)
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = recs = kls = 0.0
    nb = 0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        loss, rec, kl = step(x_tr[idx], b)
        mx.eval(loss, rec, kl, model.parameters(), opt.state)
        tot += loss.item(); recs += rec.item(); kls += kl.item(); nb += 1
    vrec, vkl = parts(model, x_va)
    line = {
        "epoch": ep,
        "beta": round(beta, 3),
        "loss": round(tot / nb, 4),
        "recon": round(recs / nb, 4),
        "kl_per_q": round(kls / nb, 4),
        "val_recon": round(vrec.item(), 4),
        "val_kl": round(vkl.item(), 4),
        "baseline": round(baseline_mse, 4),
        "recon_vs_baseline_pct": round(100.0 * vrec.item() / baseline_mse, 1),
    }
    print(json.dumps(line))

vrec, vkl = parts(model, x_va)
_, mu_va, _ = model(x_va)
act = int(mx.sum(mx.var(mu_va, axis=0) > 0.01).item())
print(json.dumps({"event": "done", "val_recon": round(vrec.item(), 4), "val_elbo_per_q": round(vrec.item() + vkl.item(), 4),
                  "active_latents": act, "seconds": round(time.time() - t0, 1)}))
