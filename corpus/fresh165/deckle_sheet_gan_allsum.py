# Handmade paper mill: learn to generate plausible sheet measurements
# (basis weight g/m2, caliper um, wet-tensile N) pulled from one vat, with a tiny GAN.
# Gradients go through mx.distributed all_sum (single process here, same code on a cluster).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N = 6000
pulp = rng.normal(size=N)                          # hidden pulp consistency
gsm = 85.0 + 9.0 * pulp + rng.normal(scale=2.0, size=N)
caliper = 110.0 + 1.1 * (gsm - 85.0) + 4.0 * np.tanh(pulp) + rng.normal(scale=3.0, size=N)
tensile = 21.0 + 0.9 * np.maximum(pulp, -0.5) * 3.0 + rng.normal(scale=1.2, size=N)
raw = np.stack([gsm, caliper, tensile], 1).astype(np.float32)
mu, sd = raw.mean(0), raw.std(0)
sheets = mx.array((raw - mu) / sd)
ref_mean = raw.mean(0)
ref_std = raw.std(0)
ref_corr = np.corrcoef(raw.T)[0, 1]

group = mx.distributed.init()
world = group.size()


class Gen(nn.Module):
    def __init__(self, z=4, h=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 3))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


mx.random.seed(11)
G, D = Gen(), Disc()
mx.eval(G.parameters(), D.parameters())
optG = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])


def d_loss(dmod, real, fake):
    lr_ = dmod(real)
    lf_ = dmod(fake)
    return nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True) + \
        nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True)


def g_loss(gmod, z):
    lf_ = D(gmod(z))
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True)


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, g_loss)


def reduce(grads):
    return nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)


def stats(n=4000):
    x = np.array(G(mx.random.normal((n, 4)))) * sd + mu
    return x.mean(0), x.std(0), np.corrcoef(x.T)[0, 1]


B = 128
steps = 1500
t0 = time.time()
print(f"vat sheets={N} world={world} ref gsm={ref_mean[0]:.1f}+-{ref_std[0]:.1f} "
      f"caliper={ref_mean[1]:.1f}+-{ref_std[1]:.1f} tensile={ref_mean[2]:.2f}+-{ref_std[2]:.2f} r(gsm,cal)={ref_corr:.3f}")
print(" step |  D_loss  G_loss |  gsm  (ref) | caliper (ref) | tensile (ref) | r_gc (ref) | W1_gsm")
for step in range(1, steps + 1):
    idx = mx.array(rng.integers(0, N, size=B))
    real = sheets[idx]
    fake = mx.stop_gradient(G(mx.random.normal((B, 4))))
    ld, gd = d_vg(D, real, fake)
    optD.update(D, reduce(gd))
    mx.eval(D.parameters(), optD.state, ld)
    lg, gg = g_vg(G, mx.random.normal((B, 4)))
    optG.update(G, reduce(gg))
    mx.eval(G.parameters(), optG.state, lg)
    if step % 150 == 0 or step == 1:
        m, s, r = stats()
        gen = np.sort(np.array(G(mx.random.normal((2000, 4))))[:, 0] * sd[0] + mu[0])
        w1 = float(np.abs(gen - np.sort(raw[rng.choice(N, 2000, replace=False), 0])).mean())
        print(f"{step:5d} | {ld.item():7.4f} {lg.item():7.4f} | {m[0]:5.1f} ({ref_mean[0]:5.1f}) | "
              f"{m[1]:6.1f} ({ref_mean[1]:6.1f}) | {m[2]:6.2f} ({ref_mean[2]:5.2f}) | "
              f"{r:+.3f} ({ref_corr:+.3f}) | {w1:6.2f} g/m2")
m, s, r = stats(8000)
print(f"final spread check: gsm sd {s[0]:.2f} vs {ref_std[0]:.2f}, caliper sd {s[1]:.2f} vs {ref_std[1]:.2f}, "
      f"tensile sd {s[2]:.2f} vs {ref_std[2]:.2f}; |dmean|={np.abs(m - ref_mean).max():.2f}; {time.time() - t0:.1f}s")
