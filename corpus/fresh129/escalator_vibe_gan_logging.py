"""Synthetic escalator condition-monitoring data with a small GAN.

The maintenance team wants to simulate healthy operating points of the three
escalator models in a metro station: step-chain vibration RMS (mm/s) and
handrail speed mismatch (% of step speed).  A generator learns that
three-cluster distribution against a discriminator (non-saturating GAN,
compiled G and D steps), conditioned on the escalator model.  The adversarial losses stay noisy by design; quality
is tracked with a sliced Wasserstein distance against held-out real points,
with a real-vs-real floor and a single-Gaussian baseline logged beside it.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("escalator-gan")

rng = np.random.default_rng(2024)
MODELS = {
    "Schindler-9300": dict(w=0.45, mean=(1.3, -0.4), cov=[[0.05, 0.02], [0.02, 0.09]]),
    "Otis-506NCE": dict(w=0.35, mean=(2.6, 1.1), cov=[[0.09, -0.03], [-0.03, 0.12]]),
    "Kone-TravelMaster": dict(w=0.20, mean=(3.7, -1.6), cov=[[0.06, 0.0], [0.0, 0.05]]),
}


NAMES = list(MODELS)
WEIGHTS = [MODELS[k]["w"] for k in NAMES]


def sample_real(n, with_labels=False):
    which = rng.choice(len(NAMES), n, p=WEIGHTS)
    out = np.empty((n, 2), np.float32)
    for i, k in enumerate(NAMES):
        m = which == i
        out[m] = rng.multivariate_normal(MODELS[k]["mean"], MODELS[k]["cov"], m.sum())
    return (out, which) if with_labels else out


train, train_lab = sample_real(12000, with_labels=True)
hold_a, hold_b = sample_real(2000), sample_real(2000)
mu, sd = train.mean(0), train.std(0)
train_z = mx.array((train - mu) / sd)
train_c = mx.array(np.eye(3, dtype=np.float32)[train_lab])

# fixed projection directions for the sliced Wasserstein distance
proj = rng.normal(size=(2, 64))
proj /= np.linalg.norm(proj, axis=0, keepdims=True)


def swd(a, b):
    pa, pb = np.sort(a @ proj, 0), np.sort(b @ proj, 0)
    return float(np.mean(np.abs(pa - pb)))


def mode_share(x):
    centres = np.array([MODELS[k]["mean"] for k in MODELS])
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    return np.bincount(d.argmin(1), minlength=3) / len(x) * 100.0


floor = swd(hold_a, hold_b)
gauss = rng.multivariate_normal(train.mean(0), np.cov(train.T), 2000).astype(np.float32)
gauss_ref = swd(gauss, hold_a)

NOISE = 8


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NOISE + 3, 64), nn.LeakyReLU(0.2),
                                 nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 2))

    def __call__(self, z, c):
        return self.net(mx.concatenate([z, c], axis=-1))


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 + 3, 64), nn.LeakyReLU(0.2),
                                 nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, x, c):
        return self.net(mx.concatenate([x, c], axis=-1)).squeeze(-1)


mx.random.seed(11)
G, D = Gen(), Disc()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.Adam(learning_rate=optim.cosine_decay(8e-4, 1500, 4e-5), betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=optim.cosine_decay(8e-4, 1500, 4e-5), betas=[0.5, 0.999])


def d_loss(D, real, fake, c):
    lr_, lf = D(real, c), D(fake, c)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf), with_logits=True))


def g_loss(G, z, c):
    lf = D(G(z, c), c)
    return nn.losses.binary_cross_entropy(lf, mx.ones_like(lf), with_logits=True)


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, g_loss)
state = [G.state, D.state, opt_g.state, opt_d.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(real, c, z_d, z_g):
    fake = mx.stop_gradient(G(z_d, c))
    ld, gd = d_vg(D, real, fake, c)
    opt_d.update(D, gd)
    lg, gg = g_vg(G, z_g, c)
    opt_g.update(G, gg)
    return ld, lg


def sample_fake(n):
    lab = rng.choice(3, n, p=WEIGHTS)
    c = mx.array(np.eye(3, dtype=np.float32)[lab])
    z = mx.random.normal((n, NOISE))
    return np.array(G(z, c)) * sd + mu


# audit: both nets get gradient on the first batch
real0, c0 = train_z[:256], train_c[:256]
z0 = mx.random.normal((256, NOISE))
_, gd0 = d_vg(D, real0, G(z0, c0), c0)
_, gg0 = g_vg(G, z0, c0)
from mlx.utils import tree_flatten
dmin = min(float(mx.abs(v).max().item()) for _, v in tree_flatten(gd0))
gmin = min(float(mx.abs(v).max().item()) for _, v in tree_flatten(gg0))
log.info("audit grad max|g| smallest tensor: D %.2e  G %.2e", dmin, gmin)
log.info("reference swd: real-vs-real floor %.3f, single-gaussian %.3f (mm/s,%% mixed units)",
         floor, gauss_ref)

BATCH, ITERS, EVERY = 128, 1500, 150
log.info("it    0 | untrained generator swd %.3f", swd(sample_fake(2000), hold_a))
n = train_z.shape[0]
best = None
d_hist, g_hist = [], []
for it in range(1, ITERS + 1):
    idx = mx.array(rng.integers(0, n, BATCH))
    ld, lg = train_step(train_z[idx], train_c[idx], mx.random.normal((BATCH, NOISE)),
                        mx.random.normal((BATCH, NOISE)))
    mx.eval(ld, lg, state)
    d_hist.append(ld.item())
    g_hist.append(lg.item())
    if it % EVERY == 0:
        fake = sample_fake(2000)
        s = swd(fake, hold_a)
        share = mode_share(fake)
        best = s if best is None else min(best, s)
        log.info("it %4d | D %.3f G %.3f | swd %.3f (floor %.3f, gauss %.3f) | modes %.0f/%.0f/%.0f %%",
                 it, np.mean(d_hist), np.mean(g_hist), s, floor, gauss_ref, *share)
        d_hist, g_hist = [], []

fake = sample_fake(4000)
real_share = mode_share(hold_a)
log.info("done: swd %.3f best %.3f | target mode shares %.0f/%.0f/%.0f %% | "
         "generated mean vib %.2f mm/s (real %.2f)", swd(fake[:2000], hold_a), best,
         *real_share, fake[:, 0].mean(), hold_a[:, 0].mean())
