"""Winter ice road: compress 16-point ice-thickness profiles drilled along a lake
crossing with a small VAE.  KL weight beta is annealed from exactly 0 to 1, so the
total objective climbs while beta ramps even though reconstruction keeps improving.
The train step is mx.compile'd with model/optimizer/RNG state captured."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("iceroad")

rng = np.random.default_rng(31)
mx.random.seed(31)

N_POINTS, LATENT = 16, 3


def drill_profiles(n):
    pos = np.linspace(0.0, 1.0, N_POINTS)
    mean_cm = rng.normal(0.0, 1.0, (n, 1))          # overall thickness
    slope = rng.normal(0.0, 1.0, (n, 1))            # thinner toward the inlet
    ridge = rng.normal(0.0, 1.0, (n, 1))            # pressure-ridge strength
    ridge_at = 0.55 + 0.1 * np.tanh(ridge)
    prof = (mean_cm + 0.8 * slope * (pos - 0.5)
            - 0.9 * np.tanh(ridge) * np.exp(-((pos - ridge_at) ** 2) / 0.01)
            + rng.normal(0.0, 0.08, (n, N_POINTS)))
    return prof.astype(np.float32)


train = mx.array(drill_profiles(3072))
held = mx.array(drill_profiles(512))


class ProfileVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_POINTS, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.to_mu = nn.Linear(64, LATENT)
        self.to_logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                 nn.Linear(64, N_POINTS))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def terms(model, x):
    recon, mu, logvar = model(x)
    rec = mx.sum(mx.square(recon - x), axis=-1).mean()
    kl_dims = 0.5 * (mx.exp(logvar) + mx.square(mu) - 1.0 - logvar).mean(axis=0)
    return rec, kl_dims


def objective(model, x, beta):
    rec, kl_dims = terms(model, x)
    kl = kl_dims.sum()
    return rec + beta * kl, (rec, kl)


model = ProfileVAE()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (total, (rec, kl)), grads = grad_fn(model, x, beta)
    gnorm = mx.sqrt(sum(mx.sum(mx.square(g)) for _, g in tree_flatten(grads)))
    opt.update(model, grads)
    return total, rec, kl, gnorm


STEPS, BATCH = 1500, 128
HOLD_FLAT, RAMP = 150, 450

# untrained check on every tensor
(_, _), g0 = grad_fn(model, train[:BATCH], mx.array(1.0))
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
log.info("gradient check: %d tensors, %d with zero gradient %s", len(tree_flatten(g0)), len(zero), zero)

mean_profile = train.mean(axis=0)
baseline = float(mx.sum(mx.square(held - mean_profile), axis=-1).mean())
log.info("baseline (predict the mean profile): recon %.3f cm^2 per profile", baseline)

tic = time.perf_counter()
for step in range(STEPS):
    beta = 0.0 if step < HOLD_FLAT else min(1.0, (step - HOLD_FLAT) / RAMP)
    idx = mx.array(rng.integers(0, train.shape[0], BATCH))
    total, rec, kl, gnorm = train_step(train[idx], mx.array(beta))
    mx.eval(state, total, rec, kl, gnorm)
    if step % 75 == 0 or step == STEPS - 1:
        log.info("step %04d | beta %.3f | recon %.4f | kl %.3f nats | objective %.4f | grad-norm %.3f",
                 step, beta, float(rec), float(kl), float(total), float(gnorm))

model.eval()
h_rec, h_kl = terms(model, held)
active = int((h_kl > 0.05).sum())
log.info("held-out: recon %.4f (baseline %.3f, %.1f%% of it) | kl %.3f nats | active latents %d/%d | %.1fs",
         float(h_rec), baseline, 100.0 * float(h_rec) / baseline, float(h_kl.sum()), active, LATENT,
         time.perf_counter() - tic)
