"""Bonsai nursery: learn a small latent space of tree silhouettes.

Each sample is a 32-bin canopy-width profile (top to bottom of the pot line)
for one of four classic styles: chokkan (formal upright), moyogi (informal
upright), kengai (cascade), hokidachi (broom). A VAE is trained with a cyclic
KL weight (beta ramps 0 -> 1 then restarts, 3 cycles), so the reported ELBO
climbs each time beta grows. The step is compiled with mx.compile, optimizer
RMSprop. Progress is shown as tqdm-like bars; a final audit prints the latent
class separation and the parameter drift norm.
"""
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(58)
H = 32
z = np.linspace(0, 1, H)  # 0 = apex, 1 = pot


def make(style, n):
    out = []
    for _ in range(n):
        a = rng.uniform(0.8, 1.2)
        if style == 0:    # formal upright: triangle
            w = a * 0.9 * z
        elif style == 1:  # informal upright: triangle with sway pads
            w = a * 0.8 * z * (1 + 0.35 * np.sin(2 * np.pi * (2.5 * z + rng.uniform(0, 1))))
        elif style == 2:  # cascade: canopy drops below the pot -> wide low mass
            w = a * (0.25 + 0.75 * np.exp(-((z - rng.uniform(0.75, 0.95)) / 0.18) ** 2))
        else:             # broom: wide dome on top, bare trunk below
            w = a * np.where(z < 0.55, np.sqrt(np.clip(1 - ((z - 0.3) / 0.3) ** 2, 0, 1)), 0.08)
        out.append(np.clip(w + rng.normal(0, 0.03, H), 0, None))
    return np.array(out, np.float32)


N_PER = 300
X_np = np.concatenate([make(s, N_PER) for s in range(4)])
lab = np.repeat(np.arange(4), N_PER)
X = mx.array(X_np)
LATENT = 3


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(H, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU())
        self.mu = nn.Linear(32, LATENT)
        self.logvar = nn.Linear(32, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 32), nn.SiLU(), nn.Linear(32, 64), nn.SiLU(),
                                 nn.Linear(64, H))

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def __call__(self, x, eps):
        mu, lv = self.encode(x)
        zz = mu + mx.exp(0.5 * lv) * eps
        return self.dec(zz), mu, lv


def vae_loss(model, x, eps, beta):
    rec, mu, lv = model(x, eps)
    recon = mx.sum((rec - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = VAE()
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
mx.eval(model.parameters())
theta0 = [mx.array(v) for _, v in tree_flatten(model.parameters())]
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, eps, beta):
    (loss, (recon, kl)), grads = nn.value_and_grad(model, vae_loss)(model, x, eps, beta)
    opt.update(model, grads)
    return loss, recon, kl


EPOCHS = 45
CYCLE = 15
BATCH = 60
nb = X.shape[0] // BATCH
t0 = time.time()
for ep in range(EPOCHS):
    pos = (ep % CYCLE) / CYCLE
    beta = min(1.0, 2.0 * pos)  # ramp over the first half of each cycle, hold at 1
    perm = mx.array(rng.permutation(X.shape[0]))
    s_l = s_r = s_k = 0.0
    for b in range(nb):
        xb = X[perm[b * BATCH:(b + 1) * BATCH]]
        eps = mx.random.normal((xb.shape[0], LATENT))
        loss, recon, kl = train_step(xb, eps, mx.array(beta))
        mx.eval(state, loss, recon, kl)
        s_l += loss.item(); s_r += recon.item(); s_k += kl.item()
    done = int(20 * (ep + 1) / EPOCHS)
    el = time.time() - t0
    sys.stdout.write(f"cycle {ep // CYCLE + 1}/3 {100 * (ep + 1) / EPOCHS:5.1f}%|{'#' * done}{' ' * (20 - done)}| "
                     f"{ep + 1}/{EPOCHS} [{el:4.1f}s, {nb * (ep + 1) / max(el, 1e-6):5.0f}it/s, "
                     f"beta={beta:.2f} elbo={s_l / nb:.4f} rec={s_r / nb:.4f} kl={s_k / nb:.3f}]\n")

# audit: latent means per style, class separation, parameter drift
mu, _ = model.encode(X)
mu = np.array(mu)
cent = np.stack([mu[lab == s].mean(0) for s in range(4)])
within = np.mean([np.linalg.norm(mu[lab == s] - cent[s], axis=1).mean() for s in range(4)])
between = np.mean([np.linalg.norm(cent[i] - cent[j]) for i in range(4) for j in range(i + 1, 4)])
rec, _, _ = model(X, mx.zeros((X.shape[0], LATENT)))
rec_mse = mx.mean((rec - X) ** 2).item()
var = float(X_np.var())
drift = float(np.sqrt(sum(float(mx.sum((v - t) ** 2).item())
                           for (_, v), t in zip(tree_flatten(model.parameters()), theta0))))
print("audit  style      mu_norm   spread")
for s, nm in enumerate(["chokkan", "moyogi", "kengai", "hokidachi"]):
    print(f"audit  {nm:<10} {np.linalg.norm(cent[s]):7.3f}  {np.linalg.norm(mu[lab == s] - cent[s], axis=1).mean():7.3f}")
print(f"audit  between/within = {between / within:.2f}   recon_mse(mean z) = {rec_mse:.5f} "
      f"(data var {var:.5f}, ratio {rec_mse / var:.3f})   |theta - theta0| = {drift:.3f}")
