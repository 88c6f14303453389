"""Hot-air balloon envelope logger: compress the 20-sensor vertical temperature
profile of the envelope (crown to mouth, deg C) into a 3-number code with a small
VAE.  The KL weight follows a cyclical schedule (0 -> 1 over each cycle, 3 cycles),
so the printed ELBO goes UP inside a cycle while the reconstruction improves.
Hand-written RMSprop with momentum inside an mx.compile'd step; logging module."""

import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s envelope | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("envelope")

rng = np.random.default_rng(44)
H = 20


def flights(n):
    z = np.linspace(0.0, 1.0, H, dtype=np.float32)                 # 0 = crown, 1 = mouth
    ambient = rng.uniform(-2.0, 28.0, (n, 1))
    crown = ambient + rng.uniform(60.0, 95.0, (n, 1))               # burner keeps crown hot
    strat = rng.uniform(1.2, 3.5, (n, 1))                           # how fast it cools downward
    burn = rng.uniform(0.0, 1.0, (n, 1)) < 0.3                      # burner blast just happened
    prof = ambient + (crown - ambient) * np.exp(-strat * z)
    prof = prof + burn * 18.0 * np.exp(-((z - 0.75) ** 2) / 0.01)   # hot plume near the mouth
    prof = prof + rng.normal(0.0, 0.8, (n, H))
    return prof.astype(np.float32)


tr, va = flights(8000), flights(1500)
mu, sd = tr.mean(0), tr.std(0)
tr_n, va_n = mx.array((tr - mu) / sd), mx.array((va - mu) / sd)
var_va = float(((va - va.mean(0)) ** 2).mean())


class EnvelopeVAE(nn.Module):
    def __init__(self, d=H, latent=3, width=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)
        self.dec = nn.Sequential(nn.Linear(latent, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, d))

    def __call__(self, x):
        h = self.enc(x)
        m, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(zs), m, lv


mx.random.seed(8)
vae = EnvelopeVAE()
mx.eval(vae.parameters())


def parts(model, x):
    xr, m, lv = model(x)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = parts(model, x)
    return rec + beta * kl, (rec, kl)


vg = nn.value_and_grad(vae, objective)

# all leaves reachable?  (beta=1 so the encoder's logvar head sees the KL term)
(_, _), g0 = vg(vae, tr_n[:128], mx.array(1.0))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
assert not zero, zero

LR, DECAY, MOM, EPS = 2e-3, 0.95, 0.9, 1e-8
sq = tree_map(mx.zeros_like, vae.parameters())
buf = tree_map(mx.zeros_like, vae.parameters())
state = [vae.state, sq, buf, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (rec, kl)), g = vg(vae, x, beta)
    new_sq = tree_map(lambda s, gi: DECAY * s + (1 - DECAY) * gi * gi, sq, g)
    new_buf = tree_map(lambda b, gi, s: MOM * b + gi / (mx.sqrt(s) + EPS), buf, g, new_sq)
    vae.update(tree_map(lambda p, b: p - LR * b, vae.parameters(), new_buf))
    sq.update(new_sq)
    buf.update(new_buf)
    return loss, rec, kl


CYCLES, EPOCHS_PER_CYCLE, BATCH = 3, 6, 128
n_b = tr_n.shape[0] // BATCH
t0 = time.time()
log.info("start: %d flights x %d sensors, latent 3, %d cycles x %d epochs", tr.shape[0], H, CYCLES, EPOCHS_PER_CYCLE)
for cyc in range(1, CYCLES + 1):
    for ep in range(1, EPOCHS_PER_CYCLE + 1):
        perm = mx.array(rng.permutation(tr_n.shape[0]))
        tot = r_sum = k_sum = 0.0
        for b in range(n_b):
            # beta ramps 0 -> 1 over the first 4 epochs of the cycle, then holds
            frac = ((ep - 1) * n_b + b) / (4 * n_b)
            beta = mx.array(min(1.0, frac))
            loss, rec, kl = step(tr_n[perm[b * BATCH:(b + 1) * BATCH]], beta)
            mx.eval(loss, rec, kl, vae.parameters(), sq, buf)
            tot += loss.item(); r_sum += rec.item(); k_sum += kl.item()
        m = vae.mu(vae.enc(va_n))
        xr = vae.dec(m)                      # decode the posterior mean for the check
        resid = (np.array(xr) - np.array(va_n)) * sd
        mse_c2 = float((resid ** 2).mean())
        expl = 100.0 * (1.0 - mse_c2 / var_va)
        log.info("cycle %d/%d ep %d/%d beta=%.2f  elbo %.3f = rec %.3f + kl %.3f nats | val rmse %.2f C | explained %.1f%%",
                 cyc, CYCLES, ep, EPOCHS_PER_CYCLE, min(1.0, ep * n_b / (4 * n_b)),
                 tot / n_b, r_sum / n_b, k_sum / n_b, mse_c2 ** 0.5, expl)
log.info("done in %.1fs; sensor noise floor 0.80 C", time.time() - t0)
