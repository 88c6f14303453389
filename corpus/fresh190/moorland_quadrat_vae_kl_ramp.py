# Upland moorland quadrat survey: compress 18 species-cover readings per quadrat into a 2-d
# latent (water-table depth, peat pH) with a small VAE.  KL weight is ramped
# from 0 to 1, gradients are averaged through mx.distributed (single host here).
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s moor: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger()

group = mx.distributed.init()
rank, world = group.rank(), group.size()

# ---- synthetic quadrats (stdlib random) ----
random.seed(11 + rank)
N_SPECIES = 18
optima_e = [i / (N_SPECIES - 1) for i in range(N_SPECIES)]
optima_s = [random.random() for _ in range(N_SPECIES)]
def quadrat():
    wtd, ph = random.random(), random.random()
    row = []
    for k in range(N_SPECIES):
        d = ((wtd - optima_e[k]) / 0.18) ** 2 + ((ph - optima_s[k]) / 0.35) ** 2
        row.append(math.exp(-0.5 * d) + random.gauss(0, 0.04))
    return row
train = mx.array([quadrat() for _ in range(1536)])
hold = mx.array([quadrat() for _ in range(384)])
mu, sd = train.mean(axis=0), train.std(axis=0) + 1e-4
train, hold = (train - mu) / sd, (hold - mu) / sd


class MoorVAE(nn.Module):
    def __init__(self, d=N_SPECIES, h=48, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, key):
        hdn = self.enc(x)
        m, lv = self.to_mu(hdn), self.to_logvar(hdn)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(zs), m, lv


def parts(model, x, key):
    xr, m, lv = model(x, key)
    recon = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m ** 2 - mx.exp(lv), axis=1)).mean()
    return recon, kl

def objective(model, x, key, beta):
    recon, kl = parts(model, x, key)
    return recon + beta * kl, (recon, kl)

mx.random.seed(5)
model = MoorVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, objective)

EPOCHS, BATCH, RAMP = 36, 64, 15
n_batches = train.shape[0] // BATCH
key = mx.random.key(99)
baseline = float(mx.sum(hold ** 2, axis=1).mean())   # predict-the-mean reconstruction
log.info("rank %d/%d  quadrats=%d holdout=%d  species=%d  mean-predictor recon=%.3f",
         rank, world, train.shape[0], hold.shape[0], N_SPECIES, baseline)

# audit: every parameter must receive gradient
key, sub = mx.random.split(key)
_, g0 = step_fn(model, train[:BATCH], sub, mx.array(1.0))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad audit: %d tensors, %d without gradient", len(tree_flatten(g0)), len(dead))

for epoch in range(1, EPOCHS + 1):
    beta = min(1.0, (epoch - 1) / RAMP)
    perm = mx.random.permutation(train.shape[0])
    tot = rc = kc = 0.0
    for b in range(n_batches):
        key, sub = mx.random.split(key)
        xb = train[perm[b * BATCH:(b + 1) * BATCH]]
        (loss, (r, k)), grads = step_fn(model, xb, sub, mx.array(beta))
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, r, k)
        tot += loss.item(); rc += r.item(); kc += k.item()
    if epoch % 3 == 0 or epoch == 1:
        key, sub = mx.random.split(key)
        hr, hk = parts(model, hold, sub)
        log.info("epoch %02d/%d beta=%.3f  loss=%.3f recon=%.3f kl=%.3f nats | holdout recon=%.3f (%.1f%% of baseline) kl=%.3f",
                 epoch, EPOCHS, beta, tot / n_batches, rc / n_batches, kc / n_batches,
                 hr.item(), 100 * hr.item() / baseline, hk.item())

key, sub = mx.random.split(key)
hr, hk = parts(model, hold, sub)
log.info("final: holdout -ELBO %.3f = recon %.3f + kl %.3f  (baseline recon %.3f)",
         hr.item() + hk.item(), hr.item(), hk.item(), baseline)
