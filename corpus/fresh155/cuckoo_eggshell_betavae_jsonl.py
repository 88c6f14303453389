"""Cuckoo egg mimicry: a small VAE over host-nest eggshell descriptors.

Each egg is described by 12 pigment / maculation measurements (ground hue,
chroma, spot density, spot size, scribble fraction, ...) produced by three
latent host races. The KL weight (beta) ramps 0 -> 1 over the middle of the
run, so the logged ELBO-style objective climbs for a while before it settles.
The training step is compiled with the model and optimizer state captured.
"""
import json
import logging
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s %(message)s")
log = logging.getLogger("eggvae")

rs = np.random.default_rng(1551)
N, D, Z = 2400, 12, 3
race = rs.integers(0, 3, N)
centres = rs.normal(0, 1.2, (3, 2))
latent = centres[race] + rs.normal(0, 0.35, (N, 2))
mix = rs.normal(0, 1, (2, D))
eggs = np.tanh(latent @ mix) * 1.5 + 0.3 * np.sin(latent[:, :1] * 2.0) + rs.normal(0, 0.12, (N, D))
eggs = ((eggs - eggs.mean(0)) / eggs.std(0)).astype(np.float32)
train, valid = mx.array(eggs[:2000]), mx.array(eggs[2000:])


class EggVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(),
                                 nn.Linear(64, D))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    recon, mu, logvar = model(x, key)
    rec = mx.sum(mx.square(recon - x), axis=-1).mean() * 0.5
    kl = (-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=-1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = EggVAE()
opt = optim.RMSprop(learning_rate=1.5e-3, alpha=0.95)
grad_fn = nn.value_and_grad(model, objective)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, key, beta):
    (loss, (rec, kl)), g = grad_fn(model, x, key, beta)
    opt.update(model, g)
    return loss, rec, kl


def beta_at(epoch):           # 0 for 8 epochs, linear ramp to 1 by epoch 28
    return float(min(1.0, max(0.0, (epoch - 8) / 20.0)))


w0 = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
mx.eval(w0)
key = mx.random.key(7)
B = 100
for epoch in range(40):
    beta = beta_at(epoch)
    perm = mx.array(rs.permutation(2000))
    acc = np.zeros(3)
    for i in range(0, 2000, B):
        key, sub = mx.random.split(key)
        loss, rec, kl = step(train[perm[i:i + B]], sub, mx.array(beta))
        mx.eval(loss, rec, kl, state)
        acc += [loss.item(), rec.item(), kl.item()]
    acc /= 2000 // B
    vrec, vkl = terms(model, valid, mx.random.key(epoch))
    rec_v, kl_v = vrec.item(), vkl.item()
    log.info(json.dumps({"epoch": epoch, "beta": round(beta, 3),
                         "obj": round(acc[0], 4), "rec": round(acc[1], 4),
                         "kl_nats": round(acc[2], 4), "val_neg_elbo": round(rec_v + kl_v, 4),
                         "val_rec": round(rec_v, 4)}))

drift = {k: float(mx.linalg.norm(v - w0[k]).item()) for k, v in tree_flatten(model.parameters())}
still = [k for k, d in drift.items() if d == 0.0]
log.info("audit: %d tensors, min |w-w0| %.4f (%s), max %.4f, unchanged=%s",
         len(drift), min(drift.values()), min(drift, key=drift.get), max(drift.values()), still)
mu_all = model.mu(model.enc(valid))
active = int(mx.sum(mx.var(mu_all, axis=0) > 0.01).item())
log.info("active latent units: %d/%d (var(mu) > 0.01)", active, Z)
