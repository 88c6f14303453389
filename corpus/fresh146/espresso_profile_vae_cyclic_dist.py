"""Espresso machine shot-pressure profiles -> 3-d latent VAE, cyclical beta schedule.

Every shot is a 24-sample pressure trace (bar, 0.5 s apart): pre-infusion ramp,
plateau whose height depends on grind, a channeling dip for badly prepped pucks,
then a decline. Beta goes 0 -> 1 over the first half of each of 4 cycles and then
holds, so the total loss climbs whenever beta ramps up again. Gradients are
averaged with mx.distributed (one process here, the same code on several).
"""
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(146)
world = mx.distributed.init()
rank, size = world.rank(), world.size()
rng = np.random.default_rng(1460 + rank)
T = 24
t = np.arange(T) * 0.5


def shots(n):
    grind = rng.uniform(-1, 1, n)                 # fine .. coarse
    prep = rng.uniform(0, 1, n)                    # puck prep quality
    ramp = rng.uniform(2.0, 4.5, n)                # s of pre-infusion
    peak = 9.0 - 2.2 * grind
    rise = 1 / (1 + np.exp(-(t[None] - ramp[:, None]) * 2.5))
    decline = 1 - 0.025 * np.maximum(t[None] - ramp[:, None] - 2, 0) * (1 + grind[:, None])
    dip = (prep < 0.35)[:, None] * 2.5 * np.exp(-((t[None] - ramp[:, None] - 3) ** 2) / 1.2)
    p = 1.5 + (peak[:, None] - 1.5) * rise * decline - dip
    p = p + rng.normal(0, 0.12, p.shape)
    return ((p - 6.0) / 3.0).astype(np.float32)


class ShotVAE(nn.Module):
    def __init__(self, z=3, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                 nn.Linear(h, T))

    def __call__(self, x, key):
        e = self.enc(x)
        mu, lv = self.mu(e), mx.clip(self.logvar(e), -8, 4)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv


def losses(model, x, key, beta):
    xr, mu, lv = model(x, key)
    recon = ((xr - x) ** 2).sum(-1).mean()
    kl = (-0.5 * (1 + lv - mu ** 2 - mx.exp(lv)).sum(-1)).mean()
    return recon + beta * kl, (recon, kl)


model = ShotVAE()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1.5e-3, alpha=0.95)
grad_fn = nn.value_and_grad(model, losses)

Xtr = mx.array(shots(8000))
Xte = mx.array(shots(1000))
cycles, per_cycle, bs = 4, 300, 128
key = mx.random.key(7 + rank)


def beta_at(i):
    return min(1.0, 2.0 * (i % per_cycle) / per_cycle)


def bar(frac, w=20):
    k = int(frac * w)
    return "#" * k + " " * (w - k)


_, (r0, k0) = losses(model, Xte, mx.random.key(99), 1.0)
print(f"before training: held-out recon {r0.item():.3f} kl {k0.item():.3f}")
print(f"world size {size}, rank {rank}; {Xtr.shape[0]} train shots x {T} samples")
for c in range(cycles):
    for j in range(per_cycle):
        i = c * per_cycle + j
        beta = beta_at(i)
        key, k1 = mx.random.split(key)
        idx = mx.array(rng.integers(0, Xtr.shape[0], bs))
        (loss, (rec, kl)), g = grad_fn(model, Xtr[idx], k1, beta)
        g = tree_map(lambda a: mx.distributed.all_sum(a, group=world) / size, g)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        if (j + 1) % 60 == 0:
            done = (j + 1) / per_cycle
            sys.stdout.write(
                f"cycle {c + 1}/{cycles}: {int(done * 100):3d}%|{bar(done)}| {j + 1}/{per_cycle} "
                f"[loss={loss.item():.3f}, recon={rec.item():.3f}, kl={kl.item():.3f}, "
                f"beta={beta:.2f}]\n")
    key, k2 = mx.random.split(key)
    _, (trec, tkl) = losses(model, Xte, k2, 1.0)
    elbo = trec + tkl
    print(f"  -> held-out shots: recon {trec.item():.3f}  kl {tkl.item():.3f}  "
          f"neg-ELBO {elbo.item():.3f}  (baseline recon of all-zero decoder "
          f"{(Xte ** 2).sum(-1).mean().item():.3f})")

# latent audit: does mean z separate channeled pucks from good ones?
_, mu, _ = model(Xte, mx.random.key(0))
act = mu.var(axis=0)
print("active latent dims (var of mu):", " ".join(f"{v:.3f}" for v in act.tolist()))
