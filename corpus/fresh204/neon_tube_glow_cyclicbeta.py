# Neon-sign workshop: learn a compact latent code of tube glow spectra.
# Each finished tube is measured on a 16-band spectrometer.  The gas fill
# (neon, argon-mercury, helium, krypton, neon+phosphor) sets the line pattern,
# the tube current sets overall brightness, and old electrodes add a red tail.
# A small beta-VAE (4-d latent) is trained with CYCLICAL KL annealing: beta
# ramps 0 -> 1 over the first half of every 10-epoch cycle and is then held at 1,
# so the total loss climbs during each ramp before it settles again.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2041)
BANDS = 16
band_idx = np.arange(BANDS)

GASES = {
    "neon":        [(10, 1.0), (11, 0.8), (12, 0.5)],
    "argon_hg":    [(2, 0.9), (3, 0.6), (7, 0.4)],
    "helium":      [(5, 0.8), (9, 0.6), (13, 0.3)],
    "krypton":     [(4, 0.5), (6, 0.7), (8, 0.6)],
    "neon_phos":   [(10, 0.6), (6, 0.5), (7, 0.5)],
}


def make_tubes(n):
    names = list(GASES)
    kind = rng.integers(0, len(names), size=n)
    out = np.zeros((n, BANDS), dtype=np.float32)
    for i in range(n):
        width = 0.6 + (1.4 if names[kind[i]] == "neon_phos" else 0.0)
        spec = np.zeros(BANDS)
        for centre, amp in GASES[names[kind[i]]]:
            spec += amp * np.exp(-0.5 * ((band_idx - centre) / width) ** 2)
        current = rng.uniform(0.6, 1.6)          # tube current (relative)
        wear = rng.uniform(0.0, 0.35)            # electrode wear -> red tail
        spec = current * spec + wear * np.exp((band_idx - BANDS) / 3.0)
        spec += rng.normal(0, 0.03, BANDS)
        out[i] = np.log1p(np.clip(spec, 0, None) * 10.0)
    return out, kind


x_tr, _ = make_tubes(3000)
x_va, _ = make_tubes(600)
mu_b, sd_b = x_tr.mean(0), x_tr.std(0) + 1e-6
x_tr = (x_tr - mu_b) / sd_b
x_va = (x_va - mu_b) / sd_b

# Reference: PCA with the same number of latent dims (linear, deterministic).
_, _, vt = np.linalg.svd(x_tr - x_tr.mean(0), full_matrices=False)
P = vt[:4].T
pca_va = float(np.mean(np.sum((x_va - (x_va @ P) @ P.T) ** 2, axis=1)))

Z = 4


class GlowVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BANDS, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.to_mu = nn.Linear(48, Z)
        self.to_logvar = nn.Linear(48, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, BANDS))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        eps = mx.random.normal(mu.shape)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x):
    recon, mu, logvar = model(x)
    rec = mx.mean(mx.sum((recon - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(7)
model = GlowVAE()
EPOCHS, BATCH, CYCLE = 40, 100, 10
steps_per_epoch = len(x_tr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 100
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 2e-4)], [warm]
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)

# one-off audit: every parameter receives gradient signal
_, g0 = nn.value_and_grad(model, lambda m, x: objective(m, x, mx.array(0.5))[0])(model, mx.array(x_tr[:BATCH]))
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"audit": "grad_nonzero", "tensors": len(tree_flatten(g0)), "all_zero": zero}))

state = [model.state, opt.state, mx.random.state]
vg = nn.value_and_grad(model, objective)


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (rec, kl)), grads = vg(model, x, beta)
    opt.update(model, grads)
    return loss, rec, kl


def beta_at(global_step):
    pos = (global_step % (CYCLE * steps_per_epoch)) / (CYCLE * steps_per_epoch)
    return min(1.0, pos / 0.5)


t0 = time.time()
gstep = 0
for ep in range(EPOCHS):
    perm = rng.permutation(len(x_tr))
    s_loss = s_rec = s_kl = 0.0
    for b in range(steps_per_epoch):
        xb = mx.array(x_tr[perm[b * BATCH:(b + 1) * BATCH]])
        beta = beta_at(gstep)
        loss, rec, kl = step(xb, mx.array(beta))
        mx.eval(state, loss, rec, kl)
        s_loss += loss.item(); s_rec += rec.item(); s_kl += kl.item()
        gstep += 1
    model.eval()
    vr, vk = terms(model, mx.array(x_va))
    model.train()
    print(json.dumps({
        "epoch": ep + 1, "cycle": ep // CYCLE + 1, "beta": round(beta, 3),
        "lr": float(f"{opt.learning_rate.item():.3e}"),
        "loss": round(s_loss / steps_per_epoch, 4), "recon": round(s_rec / steps_per_epoch, 4),
        "kl_nats": round(s_kl / steps_per_epoch, 4),
        "val_recon": round(vr.item(), 4), "val_kl_nats": round(vk.item(), 4),
        "pca4_val_recon": round(pca_va, 4),
    }))

vr, vk = terms(model, mx.array(x_va))
print(json.dumps({"summary": True, "val_elbo_nats": round(-(vr.item() + vk.item()), 3),
                  "val_recon": round(vr.item(), 4), "pca4_val_recon": round(pca_va, 4),
                  "seconds": round(time.time() - t0, 1)}))
