"""Cask-room notebook: a small VAE over congener panels from sampled whisky casks.

Every cask gets a 12-reading panel (esters, aldehydes, fusels, lactones, ...)
driven by three hidden things: cask age, oak type (ex-bourbon vs sherry
butt, a continuous "sherry-ness") and warehouse position (char / warmth).
We fit a 3-d latent VAE to it.  The KL weight is ramped from 0 to 1 over the
first 40% of the steps, so the total objective goes UP for a while by design.
The learning rate also starts from exactly 0 (linear warm-up, then cosine).
One JSON object per report line.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(20261126)
N_TRAIN, N_VAL, D, Z = 3000, 600, 12, 3


def make_panels(n):
    age = rng.uniform(3, 25, size=n)               # years in wood
    sherry = rng.beta(2, 2, size=n)                 # 0 = bourbon barrel, 1 = sherry butt
    warm = rng.normal(0, 1, size=n)                 # warehouse tier / char
    la = np.log(age)
    cols = [
        1.2 * la + 0.3 * warm,                      # ethyl esters
        0.8 * la - 0.9 * sherry,                    # vanillin
        1.5 * sherry + 0.2 * la,                    # dried-fruit esters
        -0.7 * la + 0.4 * warm,                     # new-make fusels (fade with age)
        np.tanh(warm) * 1.1 + 0.2 * sherry,         # furfural (char)
        0.6 * la * (1 - sherry),                    # oak lactones
        1.0 * sherry * la * 0.5,                    # tannin extraction
        0.5 * warm ** 2 - 0.5,                      # sulphur compounds burned off
        0.9 * la - 0.3 * warm,                      # acetals
        -0.4 * sherry + 0.7 * np.sin(warm),         # phenolics
        0.3 * la + 0.3 * sherry + 0.3 * warm,       # colour (EBC, scaled)
        np.log1p(age) * 0.4 - 0.2 * sherry,         # abv loss ("angel's share")
    ]
    x = np.stack(cols, axis=1) + rng.normal(0, 0.12, size=(n, D))
    return x.astype(np.float32)


X_all = make_panels(N_TRAIN + N_VAL)
mu_, sd_ = X_all[:N_TRAIN].mean(0), X_all[:N_TRAIN].std(0)
X_all = (X_all - mu_) / sd_
X_tr, X_va = mx.array(X_all[:N_TRAIN]), mx.array(X_all[N_TRAIN:])


class CaskVAE(nn.Module):
    def __init__(self, d=D, h=48, z=Z):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        zs = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(zs), mu, logvar


def terms(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    rec = mx.mean(mx.sum(mx.square(xhat - x), axis=1))
    kl = mx.mean(0.5 * mx.sum(mx.exp(logvar) + mx.square(mu) - 1.0 - logvar, axis=1))
    return rec, kl


def objective(model, x, eps, beta):
    rec, kl = terms(model, x, eps)
    return rec + beta * kl, (rec, kl)


STEPS, BATCH, PEAK_LR = 1500, 128, 3e-3
WARM = 150
KL_RAMP = int(0.4 * STEPS)

model = CaskVAE()
mx.eval(model.parameters())
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARM), optim.cosine_decay(PEAK_LR, STEPS - WARM, 1e-5)],
    [WARM],
)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)

state = [model.state, opt.state]
vg = nn.value_and_grad(model, objective)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, eps, beta):
    (loss, (rec, kl)), grads = vg(model, x, eps, beta)
    opt.update(model, grads)
    return loss, rec, kl


# one-off check: every parameter tensor gets a gradient on the first batch
(_, _), g0 = vg(model, X_tr[:BATCH], mx.random.normal((BATCH, Z)), mx.array(1.0))
gnorms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in
          __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "tensors": len(gnorms),
                  "min_norm": round(min(gnorms.values()), 6), "zero": [k for k, v in gnorms.items() if v == 0.0]}))

# what "no model" costs: predict the standardised mean (0) everywhere
baseline_rec = float(mx.mean(mx.sum(mx.square(X_va), axis=1)))

t0 = time.time()
perm = np.arange(N_TRAIN)
ptr = N_TRAIN
acc = {"loss": 0.0, "rec": 0.0, "kl": 0.0, "n": 0}
for step in range(1, STEPS + 1):
    if ptr + BATCH > N_TRAIN:
        rng.shuffle(perm)
        ptr = 0
    idx = mx.array(perm[ptr:ptr + BATCH])
    ptr += BATCH
    beta = min(1.0, (step - 1) / KL_RAMP)
    eps = mx.random.normal((BATCH, Z))
    loss, rec, kl = train_step(X_tr[idx], eps, mx.array(beta))
    mx.eval(loss, rec, kl, model.state, opt.state)
    acc["loss"] += loss.item(); acc["rec"] += rec.item(); acc["kl"] += kl.item(); acc["n"] += 1

    if step % 100 == 0 or step == 1:
        n = acc["n"]
        vrec, vkl = terms(model, X_va, mx.random.normal((N_VAL, Z)))
        # mean-only reconstruction (eps = 0) as a sharper second view
        vrec0, _ = terms(model, X_va, mx.zeros((N_VAL, Z)))
        mx.eval(vrec, vkl, vrec0)
        print(json.dumps({
            "step": step,
            "lr": round(float(opt.learning_rate.item()), 6),
            "beta": round(beta, 3),
            "train": {"elbo_loss": round(acc["loss"] / n, 4), "rec": round(acc["rec"] / n, 4),
                      "kl_nats": round(acc["kl"] / n, 4)},
            "val": {"rec": round(vrec.item(), 4), "rec_at_mean": round(vrec0.item(), 4),
                    "kl_nats": round(vkl.item(), 4), "neg_elbo": round(vrec.item() + vkl.item(), 4)},
            "ref_rec_no_model": round(baseline_rec, 4),
        }))
        acc = {"loss": 0.0, "rec": 0.0, "kl": 0.0, "n": 0}

vrec, vkl = terms(model, X_va, mx.zeros((N_VAL, Z)))
_, mu, logvar = model(X_va, mx.zeros((N_VAL, Z)))
active = int(mx.sum(mx.var(mu, axis=0) > 0.01).item())
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2),
                  "val_rec_at_mean": round(vrec.item(), 4), "val_kl": round(vkl.item(), 4),
                  "explained_pct": round(100 * (1 - vrec.item() / baseline_rec), 2),
                  "active_latent_dims": active}))
