"""Ropewalk: compress 40-sample strand-twist tension traces with a small VAE.
The KL weight beta is annealed 0 -> 1 over the first 1200 iterations, so the
total objective climbs while beta grows and only then settles. The input
whitening layer is fitted from the data once and frozen on purpose.
Compiled train step, Adamax, stdlib logging."""
import logging
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s ropewalk | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ropewalk")

rng = np.random.default_rng(2718)
N, T = 3000, 40
t = np.linspace(0, 1, T)
lay = rng.uniform(2.0, 6.0, (N, 1))            # lay length -> twist frequency
pre = rng.uniform(0.5, 1.5, (N, 1))            # pre-tension
fibre = rng.integers(0, 3, (N, 1))             # hemp / sisal / nylon
creep = rng.uniform(0.0, 0.8, (N, 1))
trace = (pre * (1 + 0.4 * np.sin(2 * np.pi * lay * t + fibre))
         + creep * t ** 2 + 0.25 * (fibre == 2) * np.cos(6 * np.pi * t))
trace = (trace + rng.normal(0, 0.05, (N, T))).astype(np.float32)
train, valid = trace[:2600], trace[2600:]


class Whiten(nn.Module):
    def __init__(self, data):
        super().__init__()
        self.mu = mx.array(data.mean(0))
        self.inv_sd = mx.array(1.0 / data.std(0))

    def __call__(self, x):
        return (x - self.mu) * self.inv_sd


class TwistVAE(nn.Module):
    def __init__(self, data, z=6):
        super().__init__()
        self.whiten = Whiten(data)
        self.enc = nn.Sequential(nn.Linear(T, 96), nn.SiLU(), nn.Linear(96, 64), nn.SiLU())
        self.mu = nn.Linear(64, z)
        self.logvar = nn.Linear(64, z)
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.SiLU(), nn.Linear(64, 96), nn.SiLU(),
                                 nn.Linear(96, T))

    def __call__(self, x, eps):
        xw = self.whiten(x)
        h = self.enc(xw)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8, 8)
        zz = mu + mx.exp(0.5 * logvar) * eps
        return xw, self.dec(zz), mu, logvar


def terms(model, x, eps):
    xw, xr, mu, logvar = model(x, eps)
    rec = mx.sum((xr - xw) ** 2, axis=-1).mean()
    kl_dim = 0.5 * (mu ** 2 + mx.exp(logvar) - 1 - logvar).mean(0)
    return rec, kl_dim


def loss_fn(x, eps, beta):
    rec, kl_dim = terms(model, x, eps)
    kl = kl_dim.sum()
    return rec + beta * kl, rec, kl


model = TwistVAE(train)
model.whiten.freeze()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
vg = nn.value_and_grad(model, loss_fn)

# audit once: trainable tensors all receive gradient, frozen whitening is excluded
_, g = vg(mx.array(train[:128]), mx.random.normal((128, 6)), mx.array(0.5))
gn = [float(mx.linalg.norm(v)) for _, v in tree_flatten(g)]
log.info("audit trainable=%d frozen=%d min|g|=%.3e", len(gn),
         len(tree_flatten(model.whiten.parameters())), min(gn))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, eps, beta):
    (total, rec, kl), grads = vg(x, eps, beta)
    opt.update(model, grads)
    return total, rec, kl


ITERS, ANNEAL, B = 2400, 1200, 64
Xtr, Xva = mx.array(train), mx.array(valid)
eps_va = mx.zeros((Xva.shape[0], 6))
t0 = time.time()
acc = np.zeros(3)
for it in range(1, ITERS + 1):
    beta = min(1.0, (it - 1) / ANNEAL)
    idx = mx.array(rng.integers(0, len(train), B))
    total, rec, kl = step(Xtr[idx], mx.random.normal((B, 6)), mx.array(beta))
    mx.eval(total, rec, kl, model.parameters(), opt.state)
    acc += [total.item(), rec.item(), kl.item()]
    if it % 200 == 0:
        vr, vkl = terms(model, Xva, eps_va)
        active = int((vkl > 0.05).sum().item())
        a = acc / 200
        log.info("it %04d | beta %.2f | loss %.3f | rec %.3f | kl %.3f | val_rec(mean-z) %.3f | active %d/6",
                 it, beta, a[0], a[1], a[2], vr.item(), active)
        acc[:] = 0

vr, vkl = terms(model, Xva, eps_va)
log.info("done in %.1fs | val rec %.3f (raw-variance reference %.1f) | val kl %.3f nats",
         time.time() - t0, vr.item(), float(T), vkl.sum().item())
