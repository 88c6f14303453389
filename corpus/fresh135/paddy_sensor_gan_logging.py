"""Paddy-field sensor simulator: a small GAN learns the joint distribution of
(water depth cm, water temperature C) readings from field loggers, which fall
into three regimes (flooded, alternate wetting, drained)."""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s paddy-gan | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("paddy")

rng = np.random.default_rng(7)
mx.random.seed(7)
REGIMES = [  # (share, depth mean, depth sd, temp mean, temp sd, corr)
    (0.5, 9.0, 1.6, 27.0, 1.2, 0.5),    # flooded
    (0.3, 3.0, 1.0, 30.5, 1.5, -0.3),   # alternate wetting and drying
    (0.2, 0.4, 0.3, 33.0, 1.0, 0.0),    # drained
]


def sample_real(n):
    k = rng.choice(3, n, p=[r[0] for r in REGIMES])
    out = np.zeros((n, 2), np.float32)
    for j, (_, dm, ds, tm, ts, c) in enumerate(REGIMES):
        m = k == j
        z = rng.standard_normal((m.sum(), 2))
        z[:, 1] = c * z[:, 0] + math.sqrt(1 - c * c) * z[:, 1]
        out[m, 0] = dm + ds * z[:, 0]
        out[m, 1] = tm + ts * z[:, 1]
    return out


ref = sample_real(20000)
MU, SD = ref.mean(0), ref.std(0)
CENTERS = np.array([[r[1], r[3]] for r in REGIMES], np.float32)


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 2))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


G, D = Gen(), Disc()
mx.eval(G.parameters(), D.parameters())
optG = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
bce = nn.losses.binary_cross_entropy


def d_loss(d, real, fake):
    lr_, lf = d(real), d(fake)
    return bce(lr_, mx.ones_like(lr_), with_logits=True, reduction="mean") + \
        bce(lf, mx.zeros_like(lf), with_logits=True, reduction="mean")


def g_loss(g, d, z):
    lf = d(g(z))
    return bce(lf, mx.ones_like(lf), with_logits=True, reduction="mean")


d_grad = nn.value_and_grad(D, d_loss)
g_grad = nn.value_and_grad(G, lambda g, z: g_loss(g, D, z))


def regime_shares(x):
    d2 = ((x[:, None, :] - CENTERS[None]) / np.array([2.0, 1.5])) ** 2
    k = d2.sum(-1).argmin(1)
    return np.bincount(k, minlength=3) / len(x)


def audit():
    z = mx.random.normal((3000, 4))
    fake = np.array(G(z)) * SD + MU
    mean_gap = np.abs(fake.mean(0) - ref.mean(0))
    sd_gap = np.abs(fake.std(0) - ref.std(0))
    share = regime_shares(fake)
    tv = 0.5 * np.abs(share - np.array([r[0] for r in REGIMES])).sum()
    return mean_gap, sd_gap, share, tv


def norm(m):
    return math.sqrt(sum(float((v * v).sum()) for _, v in tree_flatten(m.parameters())))


B = 256
mg, sg, sh, tv = audit()
log.info("start  depth/temp mean gap %.2f cm / %.2f C  sd gap %.2f / %.2f  regime TV %.3f",
         mg[0], mg[1], sg[0], sg[1], tv)
for it in range(1, 1501):
    real = mx.array((sample_real(B) - MU) / SD)
    z = mx.random.normal((B, 4))
    fake = mx.stop_gradient(G(z))
    ld, gd = d_grad(D, real, fake)
    optD.update(D, gd)
    mx.eval(D.parameters(), optD.state, ld)
    lg, gg = g_grad(G, mx.random.normal((B, 4)))
    optG.update(G, gg)
    mx.eval(G.parameters(), optG.state, lg)
    if it % 150 == 0:
        mg, sg, sh, tv = audit()
        log.info("it %4d  D %.3f  G %.3f  | mean gap %.2f cm %.2f C | sd gap %.2f %.2f | "
                 "regimes %s (target 50/30/20%%) TV %.3f", it, ld.item(), lg.item(), mg[0], mg[1],
                 sg[0], sg[1], "/".join(f"{100 * s:.0f}" for s in sh), tv)
    if it % 500 == 0:
        log.info("audit  |G| %.2f  |D| %.2f  D(real)=%.2f D(fake)=%.2f", norm(G), norm(D),
                 float(mx.sigmoid(D(real)).mean()), float(mx.sigmoid(D(fake)).mean()))
mg, sg, sh, tv = audit()
log.info("final  mean gap %.2f cm / %.2f C  sd gap %.2f / %.2f  regime TV %.3f",
         mg[0], mg[1], sg[0], sg[1], tv)
