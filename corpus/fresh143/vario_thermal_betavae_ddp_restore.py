"""Paraglider vario traces -> beta-VAE, data-parallel style (one process).

Each trace is 32 climb-rate samples (m/s) recorded while circling through a
thermal: a Gaussian core of random strength/width/position on top of
background sink, plus sensor noise.  The KL weight (beta) ramps up from 0 to
1 over the first 12 epochs, so the training objective rises while the ramp is
on.  Gradients are averaged across the distributed group (size 1 here).
Validation always uses the full ELBO (beta = 1).  Early stopping on val ELBO
with the best weights restored at the end.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.nn.utils import average_gradients
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s",
                    level=logging.INFO)
group = mx.distributed.init()
log = logging.getLogger(f"vario.r{group.rank()}")

rng = np.random.default_rng(44)
T = 32


def traces(n):
    t = np.linspace(0.0, 1.0, T)[None, :]
    centre = rng.uniform(0.2, 0.8, (n, 1))
    width = rng.uniform(0.05, 0.2, (n, 1))
    lift = rng.gamma(3.0, 0.9, (n, 1))
    sink = rng.uniform(-1.6, -0.6, (n, 1))
    drift = rng.normal(0.0, 0.4, (n, 1)) * (t - 0.5)
    x = sink + lift * np.exp(-0.5 * ((t - centre) / width) ** 2) + drift
    x += rng.normal(0.0, 0.15, x.shape)
    return x.astype(np.float32)


train = mx.array(traces(3000))
val = mx.array(traces(600))
mu0, sd0 = mx.mean(train), mx.std(train)
train_z, val_z = (train - mu0) / sd0, (val - mu0) / sd0


class VarioVAE(nn.Module):
    def __init__(self, latent=4, hidden=96):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, T))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 8.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    recon, mu, logvar = model(x, key)
    rec = 0.5 * mx.sum((recon - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1.0 + logvar - mu * mu - mx.exp(logvar), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl


mx.random.seed(44)
model = VarioVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, objective)

EPOCHS, RAMP, BATCH, PATIENCE = 60, 12, 100, 6
key = mx.random.key(7)

# one-off audit: every trainable tensor gets a gradient once beta > 0
key, k0 = mx.random.split(key)
_, g0 = vg(model, train_z[:BATCH], k0, mx.array(0.5))
dead = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
log.info("world=%d audit: %d grad tensors, dead=%s", group.size(), len(tree_flatten(g0)), dead)

best, best_epoch, best_params, bad = float("inf"), -1, None, 0
t0 = time.time()
n = train_z.shape[0]
for epoch in range(1, EPOCHS + 1):
    beta = min(1.0, (epoch - 1) / RAMP)
    order = mx.array(rng.permutation(n))
    tot, rec_sum, kl_sum, nb = 0.0, 0.0, 0.0, 0
    for s in range(0, n, BATCH):
        xb = train_z[order[s:s + BATCH]]
        key, sub = mx.random.split(key)
        loss, grads = vg(model, xb, sub, mx.array(beta))
        grads = average_gradients(grads, group=group)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    key, vk = mx.random.split(key)
    v_rec, v_kl = terms(model, val_z, vk)
    v_elbo = (v_rec + v_kl).item()
    t_rec, t_kl = terms(model, train_z[:600], vk)
    log.info("epoch %02d beta=%.3f train_obj=%.3f rec=%.3f kl=%.3f | val_negELBO=%.3f (rec %.3f + kl %.3f) nats",
             epoch, beta, tot / nb, t_rec.item(), t_kl.item(), v_elbo, v_rec.item(), v_kl.item())
    if beta < 1.0:
        continue  # only start early-stopping bookkeeping once the ramp is over
    if v_elbo < best - 1e-3:
        best, best_epoch, bad = v_elbo, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
        if bad >= PATIENCE:
            log.warning("no val improvement for %d epochs, stopping at epoch %d", PATIENCE, epoch)
            break

model.update(best_params)
mx.eval(model.parameters())
key, fk = mx.random.split(key)
f_rec, f_kl = terms(model, val_z, fk)
recon, _, _ = model(val_z, fk)
rmse_ms = mx.sqrt(mx.mean((recon - val_z) ** 2)) * sd0
log.info("restored epoch %d: val_negELBO=%.3f, recon RMSE %.3f m/s (trace sd %.3f m/s), %.1fs",
         best_epoch, (f_rec + f_kl).item(), rmse_ms.item(), sd0.item(), time.time() - t0)
