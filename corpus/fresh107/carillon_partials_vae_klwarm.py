"""Carillon bell tuning notebook: a small VAE over the partial spectrum of struck bells.

Each bell gives 12 measured partials (hum, prime, tierce, quint, nominal, ... as cents
deviation from the ideal ratio, plus log decay times).  The shape of a bell (wall thickness
profile, a 'minor third vs major third' bell, and casting quality) drives all of them, so a
2-d latent should explain most of the variance.

KL warm-up: beta goes linearly from 0 to 1 over the first 700 steps, so the reported
training objective is recon + beta*KL (the negative annealed ELBO), while the test column is
the full single-sample ELBO (beta = 1, higher is better).  The decoder learns one log-variance per partial, so the reconstruction
NLL (nats per bell) can and does go below zero.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1207)
N_TRAIN, N_TEST, D, Z = 9000, 1500, 12, 2


def cast_bells(n):
    thick = rng.uniform(-1.0, 1.0, size=n)          # wall thickness profile
    third = rng.choice([-1.0, 1.0], size=n)          # minor / major third bell
    quality = rng.normal(0.0, 1.0, size=n)           # casting quality
    base = np.stack([thick, third * 0.8 + 0.15 * thick, np.tanh(quality)], axis=1)
    mix = np.random.default_rng(7).normal(0, 1, size=(3, 16))
    h = np.tanh(base @ mix)
    out = h @ np.random.default_rng(8).normal(0, 0.6, size=(16, D))
    out[:, 2] += 0.9 * third                          # the tierce partial
    out[:, 10:] += 0.4 * np.sin(2.0 * thick)[:, None]  # decay times
    return (out + rng.normal(0, 0.08, size=out.shape)).astype(np.float32)


train_np, test_np = cast_bells(N_TRAIN), cast_bells(N_TEST)
mu_np, sd_np = train_np.mean(0), train_np.std(0)
train_np = (train_np - mu_np) / sd_np
test_np = (test_np - mu_np) / sd_np
train_x, test_x = mx.array(train_np), mx.array(test_np)


class BellVAE(nn.Module):
    def __init__(self, d=D, z=Z, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))
        self.dec_logvar = mx.zeros((d,))              # one noise level per partial

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * eps
        xhat = self.dec(z)
        return xhat, mu, logvar


LOG2PI = math.log(2.0 * math.pi)


def terms(model, x, eps):
    xhat, mu, logvar = model(x, eps)
    dlv = mx.clip(model.dec_logvar, -7.0, 3.0)
    nll = 0.5 * (((x - xhat) ** 2) * mx.exp(-dlv) + dlv + LOG2PI).sum(axis=1)
    kl = 0.5 * (mx.exp(logvar) + mu ** 2 - 1.0 - logvar).sum(axis=1)
    return nll.mean(), kl.mean(), kl


def objective(model, x, eps, beta):
    nll, kl, _ = terms(model, x, eps)
    return nll + beta * kl, (nll, kl)


model = BellVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
grad_fn = nn.value_and_grad(model, objective)

BATCH, STEPS, WARM, REPORT = 128, 2400, 700, 150
key = mx.random.key(3)

# gradient-leaf audit on the first batch (beta already > 0 so the encoder sees the KL too)
k0, key = mx.random.split(key)
idx0 = mx.array(rng.integers(0, N_TRAIN, size=BATCH))
(_, _), g0 = grad_fn(model, train_x[idx0], mx.random.normal((BATCH, Z), key=k0), mx.array(0.5))
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print(f"bells train={N_TRAIN} test={N_TEST} partials={D} latent={Z}")
print(f"grad leaves={len(leaves)} zero={dead if dead else 'none'}")


EVAL_KEY = mx.random.key(99)                          # same draws at every evaluation


def evaluate(x, beta):
    e = mx.random.normal((x.shape[0], Z), key=EVAL_KEY)   # one posterior sample per bell
    nll, kl, kl_each = terms(model, x, e)
    _, mu, _ = model(x, mx.zeros_like(e))
    active = int((mu.var(axis=0) > 0.01).sum().item())
    return nll.item(), kl.item(), active


print(f"{'step':>5} {'beta':>5} {'obj(train)':>11} {'recon_nll':>10} {'kl':>7} "
      f"{'test_elbo':>10} {'active_z':>8} {'sec':>6}")
t0 = time.time()
win_obj, win_n = 0.0, 0
for step in range(1, STEPS + 1):
    beta = min(1.0, step / WARM)
    k, key = mx.random.split(key)
    idx = mx.array(rng.integers(0, N_TRAIN, size=BATCH))
    eps = mx.random.normal((BATCH, Z), key=k)
    (obj, (nll, kl)), grads = grad_fn(model, train_x[idx], eps, mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, obj)
    win_obj += obj.item()
    win_n += 1
    if step % REPORT == 0 or step == 1:
        t_nll, t_kl, active = evaluate(test_x, 1.0)
        test_elbo = -(t_nll + t_kl)                   # higher is better
        print(f"{step:5d} {beta:5.2f} {win_obj / win_n:11.4f} {nll.item():10.4f} {kl.item():7.3f} "
              f"{test_elbo:10.4f} {active:8d} {time.time() - t0:6.1f}")
        win_obj, win_n = 0.0, 0

t_nll, t_kl, active = evaluate(test_x, 1.0)
noise = np.exp(np.clip(np.array(model.dec_logvar), -7, 3)) ** 0.5
print(f"done: test ELBO {-(t_nll + t_kl):.4f} nats/bell, active latents {active}/{Z}, "
      f"decoder noise sd (std units) min {noise.min():.3f} max {noise.max():.3f}")
