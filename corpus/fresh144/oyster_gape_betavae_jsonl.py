"""Oyster valve-gape sensor traces -> beta-VAE with a KL warm-up.

Each trace is 24 hourly gape readings (% open) of one oyster on the farm's
Hall-sensor rig: a tidal rhythm (12.4 h), a day/night offset, and for some
animals a stress closure of a few hours.  We learn a 4-d latent code.

beta ramps 0 -> 1 over the first epochs, so the logged training objective
goes UP while the KL term is phased in; early stopping watches the
validation ELBO at full beta and restores the best weights at the end.
Logs are JSON lines.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(144)
T = 24


def make_traces(n):
    t = np.arange(T, dtype=np.float64)
    phase = rng.uniform(0, 2 * math.pi, size=(n, 1))
    amp = rng.uniform(12, 30, size=(n, 1))
    base = rng.uniform(35, 60, size=(n, 1))
    night = rng.uniform(0, 10, size=(n, 1))
    g = base + amp * np.sin(2 * math.pi * t / 12.4 + phase)
    g += night * (np.cos(2 * math.pi * t / 24.0) > 0)
    stressed = rng.random(n) < 0.3
    start = rng.integers(0, T - 5, size=n)
    for i in np.where(stressed)[0]:
        g[i, start[i]:start[i] + rng.integers(2, 6)] = rng.uniform(0, 4)
    g += rng.normal(0, 2.0, size=g.shape)
    return np.clip(g, 0, 100).astype(np.float32)


train_np = make_traces(3000)
val_np = make_traces(600)
mu, sd = train_np.mean(), train_np.std()
Xtr = mx.array((train_np - mu) / sd)
Xva = mx.array((val_np - mu) / sd)


class GapeVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, sample=True):
        hdn = self.enc(x)
        m, lv = self.mu(hdn), mx.clip(self.logvar(hdn), -8.0, 8.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape) if sample else m
        return self.dec(z), m, lv


def terms(model, x, sample=True):
    xh, m, lv = model(x, sample)
    rec = mx.sum(mx.square(xh - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mx.square(m) - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


model = GapeVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step = nn.value_and_grad(model, objective)

EPOCHS, BS, WARM, PATIENCE = 40, 100, 12, 6
n = Xtr.shape[0]
best, best_ep, best_params, waited = float("inf"), -1, None, 0
t0 = time.time()
mx.random.seed(7)

# baseline: predicting the mean trace (squared error per trace) on val
base_rec = float(mx.sum(mx.square(Xva - Xtr.mean(axis=0)), axis=1).mean())

for ep in range(EPOCHS):
    beta = min(1.0, ep / WARM)
    perm = mx.array(rng.permutation(n))
    s_obj = s_rec = s_kl = 0.0
    nb = 0
    for i in range(0, n, BS):
        xb = Xtr[perm[i:i + BS]]
        (obj, (rec, kl)), g = step(model, xb, beta)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, obj, rec, kl)
        s_obj += obj.item(); s_rec += rec.item(); s_kl += kl.item(); nb += 1
    model.eval()
    vr, vk = terms(model, Xva)
    vr_mean, _ = terms(model, Xva, sample=False)
    elbo = (vr + vk).item()
    model.train()
    rec_line = {
        "epoch": ep, "beta": round(beta, 3),
        "train_obj": round(s_obj / nb, 4), "train_rec": round(s_rec / nb, 4), "train_kl": round(s_kl / nb, 4),
        "val_neg_elbo": round(elbo, 4), "val_rec_at_mean": round(vr_mean.item(), 4),
        "mean_trace_baseline": round(base_rec, 4),
    }
    print(json.dumps(rec_line), flush=True)
    if beta >= 1.0:
        if elbo < best - 1e-3:
            best, best_ep, waited = elbo, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            waited += 1
            if waited >= PATIENCE:
                print(json.dumps({"event": "early_stop", "epoch": ep, "best_epoch": best_ep}), flush=True)
                break

if best_params is not None:
    model.update(best_params)
    mx.eval(model.parameters())
model.eval()
vr, vk = terms(model, Xva)
active = int(mx.sum(mx.var(model(Xva, sample=False)[1], axis=0) > 0.05).item())
nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({
    "event": "restored", "best_epoch": best_ep, "val_neg_elbo": round((vr + vk).item(), 4),
    "val_rec": round(vr.item(), 4), "val_kl": round(vk.item(), 4), "active_latents": active,
    "params": nparams, "seconds": round(time.time() - t0, 2),
}), flush=True)
