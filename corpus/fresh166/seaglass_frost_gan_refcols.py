# Beachcombing log: learn a generator for sea-glass shard measurements
# (log10 size in mm, frosting %) so we can simulate a day's haul.
# Real shards come from three bottle sources (green, white, brown) with
# different sizes and frosting. Small GAN, D trained with SGD+momentum,
# G trained with Adam(b1=0.5).  Table printed every 150 steps with the
# generated statistics next to the real ("ref") ones.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_REAL = 6000
src = rng.choice(3, size=N_REAL, p=[0.5, 0.3, 0.2])
size_mu = np.array([1.25, 0.95, 1.45])     # log10 mm
frost_mu = np.array([62.0, 35.0, 80.0])    # percent
size = size_mu[src] + 0.08 * rng.standard_normal(N_REAL)
frost = frost_mu[src] + 6.0 * rng.standard_normal(N_REAL)
raw = np.stack([size, frost], 1).astype(np.float32)
mu, sd = raw.mean(0), raw.std(0)
real = mx.array((raw - mu) / sd)

Z = 4


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(Z, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


mx.random.seed(3)
G, D = Gen(), Disc()
optG = optim.Adam(learning_rate=2e-3, betas=[0.5, 0.999])
optD = optim.SGD(learning_rate=0.05, momentum=0.8)


def d_loss(dm, xr, xf):
    lr_ = dm(xr)
    lf = dm(xf)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True, reduction="mean")
            + nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf), with_logits=True, reduction="mean"))


def g_loss(gm, z):
    lf = D(gm(z))
    return nn.losses.binary_cross_entropy(lf, mx.ones_like(lf), with_logits=True, reduction="mean")


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, g_loss)


def to_units(x):
    return np.array(x) * sd + mu


def mode_share(u):
    # nearest bottle source by frosting %
    k = np.abs(u[:, 1:2] - frost_mu[None, :]).argmin(1)
    return np.bincount(k, minlength=3) / len(k)


ref_share = mode_share(raw)
B = 128
STEPS = 1800
t0 = time.time()
print(f"{'step':>5} | {'D':>6} {'G':>6} | {'D(x)':>5} {'D(G)':>5} | "
      f"{'size_mm':>7} {'ref':>6} | {'frost%':>6} {'ref':>6} | {'green/white/brown':>17}")
print("-" * 92)
checked = False
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, N_REAL, B))
    xr = real[idx]
    z = mx.random.normal((B, Z))
    xf = mx.stop_gradient(G(z))
    ld, gd = d_vg(D, xr, xf)
    optD.update(D, gd)
    mx.eval(D.parameters(), optD.state, ld)

    z = mx.random.normal((B, Z))
    lg, gg = g_vg(G, z)
    optG.update(G, gg)
    mx.eval(G.parameters(), optG.state, lg)

    if not checked:
        zg = [k for k, v in tree_flatten(gd) + tree_flatten(gg) if float(mx.abs(v).sum()) == 0.0]
        print(f"grad audit: {len(tree_flatten(gd))} D tensors, {len(tree_flatten(gg))} G tensors, zero-grad: {zg}")
        checked = True

    if step % 150 == 0 or step == 1:
        zz = mx.random.normal((2000, Z))
        fake = G(zz)
        px = mx.sigmoid(D(real[:2000])).mean()
        pf = mx.sigmoid(D(fake)).mean()
        u = to_units(fake)
        sh = mode_share(u)
        print(f"{step:5d} | {ld.item():6.3f} {lg.item():6.3f} | {px.item():5.2f} {pf.item():5.2f} | "
              f"{10 ** u[:, 0].mean():7.2f} {10 ** raw[:, 0].mean():6.2f} | "
              f"{u[:, 1].mean():6.1f} {raw[:, 1].mean():6.1f} | "
              f"{sh[0]:5.2f}/{sh[1]:4.2f}/{sh[2]:4.2f}")

# final audit against the real haul
zz = mx.random.normal((6000, Z))
u = to_units(G(zz))
sh = mode_share(u)
print("-" * 92)
print("audit (generated vs real):")
print(f"  size sd   {u[:, 0].std():.3f} vs {raw[:, 0].std():.3f} log10mm")
print(f"  frost sd  {u[:, 1].std():.2f} vs {raw[:, 1].std():.2f} %")
print(f"  corr      {np.corrcoef(u.T)[0, 1]:+.3f} vs {np.corrcoef(raw.T)[0, 1]:+.3f}")
print(f"  source share L1 diff {np.abs(sh - ref_share).sum():.3f}  (ref {ref_share.round(2).tolist()})")
print(f"done in {time.time() - t0:.1f}s")
