"""Pipeline in-line inspection: a small VAE over magnetic-flux-leakage (MFL)
signatures recorded by an inspection pig.

Each signature is the axial MFL channel resampled to 24 points around a
feature (gauss, baseline removed): a metal-loss pit gives a bipolar
swing whose size follows depth and whose spread follows pit length; a girth
weld adds a narrow symmetric spike; pig speed smears the signal.

The KL weight follows a cyclical schedule: it ramps 0 -> 1 over the first
half of every 40-epoch cycle and then holds, so the total objective climbs
while beta ramps; that is intended.  Gradients go through an all_sum over the
(single-process) distributed group so the same script runs on several
hosts.  Metrics: one JSON object per line, with a PCA reconstruction of the
same latent size printed alongside as a yardstick.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1783)
T = 24
LATENT = 3


def signatures(n):
    x = np.linspace(-1.0, 1.0, T)
    depth = rng.uniform(0.1, 0.7, size=(n, 1))          # wall-loss fraction
    length = rng.uniform(0.08, 0.35, size=(n, 1))       # pit half-length (scaled)
    centre = rng.normal(0.0, 0.12, size=(n, 1))
    weld = (rng.random((n, 1)) < 0.3) * rng.uniform(0.3, 0.8, size=(n, 1))
    speed = rng.uniform(1.0, 4.0, size=(n, 1))          # m/s, smears the pit
    w = length * (1.0 + 0.15 * speed)
    u = (x - centre) / w
    pit = 120.0 * depth * (-u) * np.exp(-0.5 * u ** 2)  # bipolar swing
    spike = 60.0 * weld * np.exp(-0.5 * ((x - centre - 0.45) / 0.05) ** 2)
    sig = pit + spike + rng.normal(0, 2.0, size=pit.shape)
    return sig.astype(np.float32)


train_np, val_np = signatures(3000), signatures(600)
mu_np, sd_np = train_np.mean(0), train_np.std(0) + 1e-3
train_z = (train_np - mu_np) / sd_np
val_z = (val_np - mu_np) / sd_np

# yardsticks (squared error summed over the 24 points, validation set)
mean_ref = float(((val_z - train_z.mean(0)) ** 2).sum(1).mean())
_, _, vt = np.linalg.svd(train_z - train_z.mean(0), full_matrices=False)
proj = vt[:LATENT]
val_c = val_z - train_z.mean(0)
pca_ref = float(((val_c - val_c @ proj.T @ proj) ** 2).sum(1).mean())

Xtr, Xva = mx.array(train_z), mx.array(val_z)


class SignatureVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.to_mu = nn.Linear(64, LATENT)
        self.to_logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(),
                                 nn.Linear(64, T))

    def __call__(self, x, key=None):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        if key is None:
            z = mu
        else:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def terms(model, x, key):
    xhat, mu, logvar = model(x, key)
    rec = ((xhat - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar))).sum(axis=1).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


world = mx.distributed.init()
model = SignatureVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, objective)


def reduce_grads(grads):
    n = world.size()
    return tree_map(lambda g: mx.distributed.all_sum(g, group=world) / n, grads)


EPOCHS, CYCLE, BS = 80, 40, 100
n_batches = Xtr.shape[0] // BS
key = mx.random.key(7 + world.rank())
t0 = time.time()
print(json.dumps({"world_size": world.size(), "rank": world.rank(), "train": Xtr.shape[0], "val": Xva.shape[0]}))

for epoch in range(EPOCHS):
    pos = (epoch % CYCLE) / CYCLE
    beta = min(1.0, 2.0 * pos)
    perm = mx.array(np.random.default_rng(epoch).permutation(Xtr.shape[0]))
    run_tot = run_rec = run_kl = 0.0
    for b in range(n_batches):
        key, sub = mx.random.split(key)
        xb = Xtr[perm[b * BS:(b + 1) * BS]]
        (tot, (rec, kl)), grads = step_fn(model, xb, sub, mx.array(beta))
        grads = reduce_grads(grads)
        if epoch == 0 and b == 0:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
            print(json.dumps({"grad_audit": f"{nz}/{len(flat)}", "note": "tensors with nonzero gradient"}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, tot, rec, kl)
        run_tot += tot.item(); run_rec += rec.item(); run_kl += kl.item()
    if epoch % 4 == 3 or epoch == 0:
        vrec, vkl = terms(model, Xva, None)
        print(json.dumps({
            "cycle": epoch // CYCLE + 1,
            "ep_in_cycle": epoch % CYCLE + 1,
            "beta": round(beta, 3),
            "objective": round(run_tot / n_batches, 4),
            "recon": round(run_rec / n_batches, 4),
            "kl_nats": round(run_kl / n_batches, 4),
            "val_recon_at_mu": round(vrec.item(), 4),
            "pca3_ref": round(pca_ref, 4),
            "meanprofile_ref": round(mean_ref, 4),
        }))

vrec, vkl = terms(model, Xva, None)
print(json.dumps({"final": True, "val_recon_at_mu": round(vrec.item(), 4), "val_kl_nats": round(vkl.item(), 4),
                  "pca3_ref": round(pca_ref, 4), "meanprofile_ref": round(mean_ref, 4),
                  "seconds": round(time.time() - t0, 2)}))
