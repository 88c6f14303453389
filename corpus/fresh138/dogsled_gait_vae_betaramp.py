"""Dog-sled team: compress per-dog gait-sensor readings with a tiny VAE.

Each dog wears a harness sensor giving 8 summary readings per run
(stride length, cadence, left/right asymmetry, harness tension, ...).
They are driven by two hidden factors (fatigue, stride style).  We fit
a 2-d latent VAE; the KL weight beta is ramped 0 -> 1 (warm-up), so the
logged total loss goes UP while beta grows before it settles.
"""
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s sled.vae: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("sled")

rng = np.random.default_rng(17)
mx.random.seed(17)


def make_dogs(n):
    fatigue = rng.uniform(-1.5, 1.5, size=n)
    style = rng.normal(0.0, 1.0, size=n)
    cols = [
        1.8 - 0.35 * fatigue + 0.20 * style,           # stride length (m)
        3.1 + 0.40 * np.tanh(style) - 0.15 * fatigue,  # cadence (Hz)
        0.10 * fatigue ** 2 + 0.05 * style,            # L/R asymmetry
        np.sin(1.3 * fatigue) + 0.3 * style,           # harness tension
        0.5 * fatigue * style,                         # head bob
        np.exp(0.3 * fatigue) - 1.0,                   # lactate proxy
        0.8 * style - 0.2 * style ** 2,                # paw lift
        -0.6 * fatigue + 0.25 * np.cos(style),         # gait regularity
    ]
    X = np.stack(cols, axis=1) + rng.normal(0.0, 0.08, size=(n, 8))
    return X.astype(np.float32)


Xtr, Xva = make_dogs(3000), make_dogs(600)
mu_, sd_ = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu_) / sd_)
Xva = mx.array((Xva - mu_) / sd_)


class GaitVAE(nn.Module):
    def __init__(self, d=8, h=64, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, eps):
        hid = self.enc(x)
        mu, logvar = self.to_mu(hid), mx.clip(self.to_logvar(hid), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def parts(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    recon = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = parts(model, x, eps)
    return recon + beta * kl, (recon, kl)


model = GaitVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)
grad_fn = nn.value_and_grad(model, lambda m, x, e, b: objective(m, x, e, b)[0])

# one-off check that every tensor receives gradient (beta=1 so the encoder's logvar head is reached)
_, g0 = grad_fn(model, Xtr[:256], mx.random.normal((256, 2)), mx.array(1.0))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("gradient check: %d tensors, %d with all-zero grad", len(tree_flatten(g0)), len(dead))

EPOCHS, BS = 22, 100
n = Xtr.shape[0]
base_recon = float(mx.mean(mx.sum(Xva ** 2, axis=1)))   # predicting the (standardised) mean
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    beta = 0.0 if ep <= 3 else min(1.0, (ep - 3) / 10.0)
    perm = mx.array(rng.permutation(n))
    tot = rs = ks = 0.0
    nb = 0
    for i in range(0, n, BS):
        idx = perm[i:i + BS]
        xb = Xtr[idx]
        eps = mx.random.normal((xb.shape[0], 2))
        loss, grads = grad_fn(model, xb, eps, mx.array(beta))
        opt.update(model, grads)
        r, k = parts(model, xb, eps)
        mx.eval(model.parameters(), opt.state, loss, r, k)
        tot += loss.item(); rs += r.item(); ks += k.item(); nb += 1
    vr, vk = parts(model, Xva, mx.zeros((Xva.shape[0], 2)))
    log.info("ep %02d/%d beta=%.2f loss=%.3f recon=%.3f kl=%.2f nats | val recon(mean z)=%.3f  (mean-dog baseline %.3f)",
             ep, EPOCHS, beta, tot / nb, rs / nb, ks / nb, vr.item(), base_recon)

vr, vk = parts(model, Xva, mx.random.normal((Xva.shape[0], 2)))
log.info("done in %.1fs: val -ELBO(beta=1) %.3f = recon %.3f + kl %.2f; explained %.1f%% of gait variance",
         time.time() - t0, (vr + vk).item(), vr.item(), vk.item(), 100 * (1 - vr.item() / base_recon))
