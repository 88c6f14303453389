# Perfumery lab: learn to generate gas-chromatography (GC) fingerprints of a
# house "chypre" accord so the junior perfumers get plausible variants to smell.
# Each fingerprint is 24 relative peak areas (log scale) made from 3 hidden
# ingredient dosages (bergamot, oakmoss, labdanum) + batch noise.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(11)
N_PEAKS = 24
N_REAL = 4096
Z_DIM = 6

# --- synthetic GC data -------------------------------------------------------
rt = np.linspace(0, 1, N_PEAKS)                     # retention time axis
ing = np.stack([
    np.exp(-((rt - 0.15) / 0.08) ** 2),              # bergamot: early volatile peaks
    np.exp(-((rt - 0.55) / 0.12) ** 2),              # oakmoss: mid peaks
    np.exp(-((rt - 0.85) / 0.07) ** 2) + 0.3 * rt,   # labdanum: late resinous tail
])
dose = rng.gamma(shape=[4.0, 2.5, 3.0], scale=[0.25, 0.3, 0.2], size=(N_REAL, 3))
profile = np.log1p(3.0 * dose @ ing) + 0.04 * rng.standard_normal((N_REAL, N_PEAKS))
mu, sd = profile.mean(0), profile.std(0) + 1e-6
real = ((profile - mu) / sd).astype(np.float32)
real_mx = mx.array(real)
real_cov = np.cov(real.T)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(Z_DIM, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_PEAKS)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_PEAKS, 64)
        self.l2 = nn.Linear(64, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


G, D = Generator(), Critic()
optG = optim.Adam(learning_rate=4e-4, betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=4e-4, betas=[0.5, 0.999])


def d_loss_fn(D, x_real, x_fake):
    lr_, lf_ = D(x_real), D(x_fake)
    return nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True, reduction="mean") + \
        nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True, reduction="mean")


def g_loss_fn(G, z):
    lf_ = D(G(z))  # non-saturating generator loss
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True, reduction="mean")


d_grad = nn.value_and_grad(D, d_loss_fn)
g_grad = nn.value_and_grad(G, g_loss_fn)


def profile_gap(n=2048):
    """mean |mu_fake - mu_real| + mean |cov_fake - cov_real| (standardised units)."""
    fake = np.array(G(mx.random.normal((n, Z_DIM))))
    m = np.abs(fake.mean(0) - real.mean(0)).mean()
    c = np.abs(np.cov(fake.T) - real_cov).mean()
    return m, c


# reference: how far two halves of the REAL set are from each other
half = N_REAL // 2
ref_m = np.abs(real[:half].mean(0) - real[half:].mean(0)).mean()
ref_c = np.abs(np.cov(real[:half].T) - np.cov(real[half:].T)).mean()

BATCH = 128
TOTAL = 1600
m0, c0 = profile_gap()
print(f"init: mean_gap={m0:.3f} cov_gap={c0:.3f} | split-half reference mean_gap={ref_m:.3f} cov_gap={ref_c:.3f}")

t0 = time.perf_counter()
d_run, g_run = [], []
for it in range(1, TOTAL + 1):
    idx = mx.array(rng.integers(0, N_REAL, BATCH))
    xr = real_mx[idx]
    z = mx.random.normal((BATCH, Z_DIM))
    xf = mx.stop_gradient(G(z))
    ld, gd = d_grad(D, xr, xf)
    optD.update(D, gd)
    mx.eval(D.parameters(), optD.state, ld)

    z = mx.random.normal((BATCH, Z_DIM))
    lg, gg = g_grad(G, z)
    optG.update(G, gg)
    mx.eval(G.parameters(), optG.state, lg)
    d_run.append(ld.item())
    g_run.append(lg.item())

    if it % 160 == 0:
        m, c = profile_gap()
        frac = it / TOTAL
        bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
        el = time.perf_counter() - t0
        rate = it / el
        print(f"gan {100*frac:3.0f}%|{bar}| {it}/{TOTAL} [{el:04.1f}s<{(TOTAL-it)/rate:04.1f}s, {rate:.0f}it/s, "
              f"D={np.mean(d_run):.3f} G={np.mean(g_run):.3f} mean_gap={m:.3f} cov_gap={c:.3f}]")
        d_run, g_run = [], []

m, c = profile_gap(4096)
print(f"final: mean_gap={m:.3f} (ref {ref_m:.3f}, init {m0:.3f})  cov_gap={c:.3f} (ref {ref_c:.3f}, init {c0:.3f})  "
      f"D at equilibrium would be {2*math.log(2):.3f}")
