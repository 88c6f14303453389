"""Tiny VAE over stained-glass transmission spectra (12 bands, 400-700 nm).

Each pane is a mix of three colourants (cobalt blue, copper ruby, iron green)
in a clear soda-lime base. KL weight is annealed from 0 to 1, learning rate
warms up from exactly 0. One JSON object per epoch.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
BANDS = np.linspace(400, 700, 12)


def absorb(center, width):
    return np.exp(-0.5 * ((BANDS - center) / width) ** 2)


A = np.stack([absorb(600, 45) + 0.3 * absorb(520, 30),   # cobalt absorbs red/yellow
              absorb(500, 40) + 0.2 * absorb(430, 25),   # copper ruby absorbs green/blue
              absorb(440, 35) + 0.6 * absorb(650, 50)])  # iron green absorbs blue + red


def make_panes(n):
    conc = rng.gamma(shape=1.5, scale=0.6, size=(n, 3))
    thickness = rng.uniform(2.5, 4.5, size=(n, 1)) / 3.5
    trans = np.exp(-(conc * thickness) @ A) * 0.92  # surface reflection loss
    trans += rng.normal(0, 0.01, size=trans.shape)
    return np.clip(trans, 0.0, 1.0).astype(np.float32)


X_train = make_panes(1536)
X_val = make_panes(384)
mu_ = X_train.mean(0)
sd_ = X_train.std(0) + 1e-6
Xtr = mx.array((X_train - mu_) / sd_)
Xva = mx.array((X_val - mu_) / sd_)

# reference: best linear 3-component reconstruction (PCA) on standardized data
U, S, Vt = np.linalg.svd(np.array(Xtr), full_matrices=False)
P = Vt[:3]
xv = np.array(Xva)
pca_recon = float(((xv - (xv @ P.T) @ P) ** 2).sum(1).mean())


class SpectrumVAE(nn.Module):
    def __init__(self, d=12, h=48, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key=None):
        h = self.enc(x)
        m, lv = self.mu(h), self.logvar(h)
        if key is None:
            zz = m
        else:
            zz = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(zz), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    recon = ((xh - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + lv - m ** 2 - mx.exp(lv)).sum(axis=1)).mean()
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


EPOCHS = 40
BATCH = 64
steps_per_epoch = Xtr.shape[0] // BATCH
total = EPOCHS * steps_per_epoch
warm = 60
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])

mx.random.seed(3)
model = SpectrumVAE()
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)

# audit: every trainable tensor must receive gradient
_, g0 = vg(model, Xtr[:BATCH], mx.random.key(0), mx.array(1.0))
gn = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "n_tensors": len(gn), "min": round(min(gn.values()), 6),
                  "max": round(max(gn.values()), 4)}))

key = mx.random.key(11)
t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / (0.4 * EPOCHS))  # KL anneal 0 -> 1 over 16 epochs
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    rsum = ksum = 0.0
    for i in range(steps_per_epoch):
        key, sub = mx.random.split(key)
        xb = Xtr[perm[i * BATCH:(i + 1) * BATCH]]
        (loss, (r, k)), grads = vg(model, xb, sub, mx.array(beta))
        lr_now = opt.learning_rate
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, r, k)
        rsum += r.item()
        ksum += k.item()
        step += 1
    vr, vk = terms(model, Xva, None)
    rec = {"epoch": epoch, "step": step, "lr": float(lr_now), "beta": round(beta, 3),
           "recon": round(rsum / steps_per_epoch, 4), "kl_nats": round(ksum / steps_per_epoch, 4),
           "neg_elbo": round((rsum + beta * ksum) / steps_per_epoch, 4),
           "val_recon": round(vr.item(), 4), "ref_pca3_recon": round(pca_recon, 4)}
    print(json.dumps(rec))

summary = {"summary": True, "final_val_recon": round(vr.item(), 4), "pca3": round(pca_recon, 4),
           "ratio_vs_pca": round(vr.item() / pca_recon, 3), "val_kl": round(vk.item(), 3),
           "seconds": round(time.time() - t0, 1)}
print(json.dumps(summary))
