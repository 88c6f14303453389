"""Tea-leaf grading: a small VAE on synthetic near-infrared leaf spectra.
KL weight (beta) is annealed 0 -> 1 over the first 40% of steps, the learning
rate warms up from exactly 0, and the step is mx.compile'd."""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tealeaf: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tealeaf")

rng = np.random.default_rng(7)
N, D, Z = 2048, 48, 4
wl = np.linspace(0, 1, D)
moisture = rng.uniform(0, 1, N)
oxidation = rng.uniform(0, 1, N)    # green -> oolong -> black
tip_ratio = rng.beta(2, 3, N)       # fraction of buds; grade proxy
spectra = (0.6 * moisture[:, None] * np.exp(-((wl - 0.72) / 0.06) ** 2)
           + 0.5 * oxidation[:, None] * np.sin(3.0 * np.pi * wl)
           + 0.4 * tip_ratio[:, None] * np.exp(-((wl - 0.3) / 0.1) ** 2)
           + 0.2 * wl + 0.03 * rng.standard_normal((N, D)))
spectra = ((spectra - spectra.mean(0)) / spectra.std(0)).astype(np.float32)
X = mx.array(spectra)
factors = np.stack([moisture, oxidation, tip_ratio], 1)


class LeafVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, D))

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)

    def __call__(self, x):
        mu, lv = self.encode(x)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def vae_terms(model, x):
    xr, mu, lv = model(x)
    recon = mx.sum((xr - x) ** 2, axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=-1)).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = vae_terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(3)
model = LeafVAE()
STEPS, WARM, BS = 900, 120, 128
lr_sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                                 optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
mx.eval(model.parameters())

vg = nn.value_and_grad(model, objective)
_, gcheck = vg(model, X[:256], mx.array(1.0))
nz = sum(1 for _, g in tree_flatten(gcheck) if mx.abs(g).max().item() > 0)
log.info("grad audit: %d/%d tensors with nonzero gradient", nz, len(tree_flatten(gcheck)))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, beta):
    (loss, (recon, kl)), grads = vg(model, xb, beta)
    opt.update(model, grads)
    return loss, recon, kl


t0 = time.time()
order = rng.permutation(N)
pos = 0
for step in range(1, STEPS + 1):
    if pos + BS > N:
        order, pos = rng.permutation(N), 0
    xb = X[mx.array(order[pos:pos + BS])]
    pos += BS
    beta = min(1.0, step / (0.4 * STEPS))
    lr_now = opt.learning_rate.item()
    loss, recon, kl = train_step(xb, mx.array(beta))
    mx.eval(state, loss, recon, kl)
    if step == 1 or step % 75 == 0:
        log.info("step %4d | lr %.2e | beta %.3f | recon %.4f | kl %.3f | neg-elbo %.4f",
                 step, lr_now, beta, recon.item(), kl.item(), loss.item())

mu, _ = model.encode(X)
mx.eval(mu)
mu = np.array(mu)
corr = np.corrcoef(np.concatenate([mu, factors], 1).T)[:Z, Z:]
best = np.abs(corr).max(0)
recon_full, kl_full = vae_terms(model, X)
mx.eval(recon_full, kl_full)
log.info("final | recon/dim %.4f (data var 1.0000) | kl %.3f nats | %.1fs",
         recon_full.item() / D, kl_full.item(), time.time() - t0)
log.info("latent audit |corr| moisture %.3f oxidation %.3f tip_ratio %.3f", *best)
