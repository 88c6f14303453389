"""Hitomezashi sashiko stitch sheets -> Bernoulli VAE with a KL ramp.

A hitomezashi sheet is fixed by one bit per row and one bit per column:
row i carries horizontal running stitches on every other cell starting at
offset r_i, column j carries vertical stitches starting at offset c_j.
We render 12x12 sheets as two binary planes (288 cells), drop 3% of the
stitches (worn thread), and fit a VAE.  beta ramps 0 -> 1 over the first
500 steps, so the objective printed below climbs while the KL term is
being switched on; the held-out ELBO (always beta = 1) is the number to watch.
"""
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

G = 12
D = 2 * G * G
LATENT = 24
np_rng = np.random.default_rng(2024)
mx.random.seed(2024)


def sheets(n):
    r = np_rng.integers(0, 2, size=(n, G))
    c = np_rng.integers(0, 2, size=(n, G))
    j = np.arange(G)
    horiz = ((j[None, None, :] + r[:, :, None]) % 2 == 0).astype(np.float32)   # (n, row, col)
    vert = ((j[None, :, None] + c[:, None, :]) % 2 == 0).astype(np.float32)    # (n, row, col)
    x = np.concatenate([horiz.reshape(n, -1), vert.reshape(n, -1)], axis=1)
    worn = np_rng.random(x.shape) < 0.03
    return np.where(worn, 0.0, x).astype(np.float32)


train = mx.array(sheets(8000))
held = mx.array(sheets(1000))

# baseline: every cell an independent Bernoulli with its training frequency
p_cell = mx.clip(train.mean(axis=0), 1e-4, 1 - 1e-4)
base_nats = -(held * mx.log(p_cell) + (1 - held) * mx.log(1 - p_cell)).sum(axis=1).mean().item()


class StitchVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 128), nn.SiLU(), nn.Linear(128, 96), nn.SiLU())
        self.mu = nn.Linear(96, LATENT)
        self.logvar = nn.Linear(96, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 96), nn.SiLU(), nn.Linear(96, 128), nn.SiLU(),
                                 nn.Linear(128, D))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def terms(model, x, eps):
    logits, mu, logvar = model(x, eps)
    recon = nn.losses.binary_cross_entropy(logits, x, with_logits=True, reduction="none").sum(axis=1)
    kl = 0.5 * (mx.exp(logvar) + mu * mu - 1.0 - logvar).sum(axis=1)
    return recon.mean(), kl.mean()


def objective(model, x, eps, beta):
    recon, kl = terms(model, x, eps)
    return recon + beta * kl, (recon, kl)


model = StitchVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=optim.cosine_decay(4e-3, 1500, 3e-4))
loss_and_grad = nn.value_and_grad(model, objective)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, eps, beta):
    (obj, (recon, kl)), grads = loss_and_grad(model, x, eps, beta)
    opt.update(model, grads)
    return obj, recon, kl


# one uncompiled look at the gradients before training starts
(_, _), g0 = loss_and_grad(model, train[:128], mx.random.normal((128, LATENT)), mx.array(0.5))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "all_zero": dead}))
print(json.dumps({"event": "baseline", "independent_cells_nats": round(base_nats, 2), "cells": D}))

STEPS, B, RAMP = 1500, 96, 500
for it in range(STEPS + 1):
    beta = min(1.0, it / RAMP)
    idx = mx.random.randint(0, train.shape[0], (B,))
    obj, recon, kl = step(train[idx], mx.random.normal((B, LATENT)), mx.array(beta))
    mx.eval(obj, recon, kl, state)
    if it % 150 == 0:
        hr, hk = terms(model, held, mx.random.normal((held.shape[0], LATENT)))
        elbo = hr.item() + hk.item()
        print(json.dumps({
            "step": it, "beta": round(beta, 3), "lr": float(f"{opt.learning_rate.item():.3g}"),
            "train_obj": round(obj.item(), 2), "recon_nats": round(recon.item(), 2),
            "kl_nats": round(kl.item(), 2), "heldout_neg_elbo": round(elbo, 2),
            "vs_baseline_pct": round(100.0 * elbo / base_nats, 1),
            "bits_per_cell": round(elbo / D / math.log(2), 4)}))

# final audit: reconstruct held-out sheets from the posterior mean
logits, mu, _ = model(held, mx.zeros((held.shape[0], LATENT)))
cell_err = ((logits > 0).astype(mx.float32) != held).astype(mx.float32).mean().item()
active = (mu.var(axis=0) > 0.01).sum().item()
print(json.dumps({"event": "done", "heldout_cell_error_pct": round(100 * cell_err, 2),
                  "active_latents": int(active), "of": LATENT}))
