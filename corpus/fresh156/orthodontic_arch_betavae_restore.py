"""Dental arch shape VAE.

Each sample is 14 upper-arch tooth landmarks (x, y in mm) generated from three
hidden factors: arch width, crowding and overjet. A small VAE learns a 3-d
latent. The KL weight beta is annealed from 0 to 1, so the total objective goes
UP while beta grows. Training stops early on validation ELBO and restores the
best weights before the final report.
"""
import copy
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s ortho: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ortho")

rng = np.random.default_rng(7)
mx.random.seed(11)
N_TEETH = 14


def arches(n):
    width = rng.normal(0, 1, n)
    crowd = rng.normal(0, 1, n)
    overjet = rng.normal(0, 1, n)
    t = np.linspace(-1.2, 1.2, N_TEETH)
    half_w = 24 + 2.5 * width[:, None]
    depth = 28 + 2.0 * overjet[:, None]
    x = half_w * np.sin(t)[None, :]
    y = depth * np.cos(t)[None, :] ** 1.4
    # crowding rotates alternate teeth in/out of the arch line
    x = x + 0.9 * crowd[:, None] * np.cos(t)[None, :] * ((-1.0) ** np.arange(N_TEETH))[None, :]
    y = y + 0.6 * crowd[:, None] * ((-1.0) ** np.arange(N_TEETH))[None, :]
    pts = np.concatenate([x, y], axis=1) + rng.normal(0, 0.15, (n, 2 * N_TEETH))
    return pts.astype(np.float32)


train_np, val_np = arches(2400), arches(600)
mu_d, sd_d = train_np.mean(0), train_np.std(0)
train = mx.array((train_np - mu_d) / sd_d)
val = mx.array((val_np - mu_d) / sd_d)
SD = mx.array(sd_d)


class ArchVAE(nn.Module):
    def __init__(self, d=2 * N_TEETH, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8, 4)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv


def terms(model, x, key):
    xh, mu, lv = model(x, key)
    rec = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1))
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = ArchVAE()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, objective)

EPOCHS, BATCH, ANNEAL, PATIENCE = 60, 100, 20, 8
best, best_epoch, best_w, bad = math.inf, -1, None, 0
key = mx.random.key(3)
gstep = 0
log.info("epochs=%d batch=%d anneal_epochs=%d patience=%d", EPOCHS, BATCH, ANNEAL, PATIENCE)
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / ANNEAL)
    perm = mx.array(rng.permutation(train.shape[0]))
    tot = rec_s = kl_s = 0.0
    nb = 0
    for i in range(0, train.shape[0], BATCH):
        key, sk = mx.random.split(key)
        xb = train[perm[i:i + BATCH]]
        (loss, (rec, kl)), grads = step_fn(model, xb, sk, beta)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item(); rec_s += rec.item(); kl_s += kl.item(); nb += 1
        gstep += 1
    key, vk = mx.random.split(key)
    vrec, vkl = terms(model, val, vk)
    velbo = (vrec + vkl).item()   # full-beta ELBO bound (nats-ish), lower is better
    # landmark error in millimetres, decoding the posterior mean
    xh = model.dec(model.mu(model.enc(val)))
    mm = mx.mean(mx.sqrt(((xh - val) * SD).reshape(-1, 2, N_TEETH).square().sum(axis=1))).item()
    flag = ""
    if beta >= 1.0 and velbo < best - 1e-3:
        best, best_epoch, bad, flag = velbo, epoch, 0, " *"
        best_w = copy.deepcopy(tree_map(lambda a: np.array(a), model.parameters()))
    elif beta >= 1.0:
        bad += 1
    log.info("ep %02d beta=%.2f | obj %.3f rec %.3f kl %.3f | val -ELBO %.3f | landmark err %.2f mm%s",
             epoch, beta, tot / nb, rec_s / nb, kl_s / nb, velbo, mm, flag)
    if bad >= PATIENCE:
        log.info("no val improvement for %d epochs, stopping at epoch %d", PATIENCE, epoch)
        break

log.info("restoring weights from epoch %d (val -ELBO %.3f)", best_epoch, best)
model.update(tree_map(lambda a: mx.array(a), best_w))
key, vk = mx.random.split(key)
vrec, vkl = terms(model, val, vk)
xh = model.dec(model.mu(model.enc(val)))
mm = mx.mean(mx.sqrt(((xh - val) * SD).reshape(-1, 2, N_TEETH).square().sum(axis=1))).item()
act = mx.var(model.mu(model.enc(val)), axis=0).tolist()
log.info("final: val rec %.3f kl %.3f -ELBO %.3f, landmark err %.2f mm, latent var %s, steps %d",
         vrec.item(), vkl.item(), (vrec + vkl).item(), mm, [round(a, 3) for a in act], gstep)
