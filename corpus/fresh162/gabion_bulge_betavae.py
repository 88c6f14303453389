"""Gabion retaining-wall survey: learn a compact code for wall-face profiles.

Each section of a stepped gabion wall is surveyed as 16 offsets (cm) of the
face from a plumb line, footing basket to top basket.  A profile is driven by
three things the site engineer cares about: the batter (lean into the bank)
and a bulge (size + height) where the stone fill has slumped.  We fit a small
beta-VAE with KL annealing so the latent code lines up with those factors.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(163)
N_TRAIN, N_TEST, D, Z = 1536, 512, 16, 3


def survey(n):
    h = np.linspace(0.0, 1.0, D)[None, :]
    batter = rng.uniform(4.0, 14.0, (n, 1))          # cm of lean over the height
    bulge = rng.gamma(2.0, 1.6, (n, 1))               # cm of bulge
    where = rng.uniform(0.2, 0.8, (n, 1))             # height of the bulge
    face = -batter * h + bulge * np.exp(-((h - where) ** 2) / 0.02)
    face += rng.normal(0.0, 0.35, face.shape)         # basket-to-basket roughness
    return face.astype(np.float32)


train_np, test_np = survey(N_TRAIN), survey(N_TEST)
mu_np, sd_np = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_np) / sd_np)
test = mx.array((test_np - mu_np) / sd_np)


class GabionVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.to_mu = nn.Linear(64, Z)
        self.to_logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, D))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, logvar


def terms(model, x, sample=True):
    xhat, mu, logvar = model(x, sample)
    recon = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return recon, kl


mx.random.seed(163)
model = GabionVAE()
mx.eval(model.parameters())

EPOCHS, BATCH = 36, 64
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm]
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off audit: every trainable tensor must get a gradient
(_, _), g0 = grad_fn(model, train[:BATCH], mx.array(1.0))
flat = dict(nn.utils.tree_flatten(g0))
dead = [k for k, v in flat.items() if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"audit": "grad_nonzero", "tensors": len(flat), "dead": dead}))

state = [model.state, opt.state, mx.random.state]


def step(x, beta):
    (loss, (recon, kl)), grads = grad_fn(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


step = mx.compile(step, inputs=state, outputs=state)

# reference: predict the per-height training-mean profile for every wall
base_test = float(mx.mean(mx.sum(test ** 2, axis=1)))
print(json.dumps({"reference": "mean_profile", "test_sse": round(base_test, 3)}))

t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / 12.0)                         # KL annealing 0 -> 1 over 12 epochs
    perm = mx.array(rng.permutation(N_TRAIN))
    s_loss = s_rec = s_kl = 0.0
    for i in range(steps_per_epoch):
        xb = train[perm[i * BATCH:(i + 1) * BATCH]]
        loss, rec, kl = step(xb, mx.array(beta))
        mx.eval(loss, rec, kl, model.parameters(), opt.state)
        s_loss += loss.item(); s_rec += rec.item(); s_kl += kl.item()
    te_rec, te_kl = terms(model, test, sample=False)
    print(json.dumps({
        "ep": ep, "beta": round(beta, 3), "lr": float(f"{opt.learning_rate.item():.2e}"),
        "train": {"obj": round(s_loss / steps_per_epoch, 3), "sse": round(s_rec / steps_per_epoch, 3),
                  "kl_nats": round(s_kl / steps_per_epoch, 3)},
        "test_sse": round(te_rec.item(), 3), "test_kl_nats": round(te_kl.item(), 3),
    }))

te_rec, te_kl = terms(model, test, sample=False)
_, mu_t, _ = model(test, sample=False)
mu_t = np.array(mu_t)
true_batter = -(test_np[:, -1] - test_np[:, 0])
best_r = max(abs(np.corrcoef(mu_t[:, k], true_batter)[0, 1]) for k in range(Z))
print(json.dumps({
    "summary": "done", "secs": round(time.time() - t0, 1),
    "test_sse": round(te_rec.item(), 3), "ref_sse": round(base_test, 3),
    "pct_of_ref": round(100 * te_rec.item() / base_test, 1),
    "neg_elbo": round(te_rec.item() + te_kl.item(), 3),
    "max_abs_corr_latent_vs_batter": round(float(best_r), 3),
}))
