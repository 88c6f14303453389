# Driftwood survey sampler: a small GAN that learns to draw plausible
# (log10 length, log10 diameter) pairs of beach driftwood pieces, so that the
# survey simulator can populate virtual strandlines.  Three kinds of pieces
# wash up: twigs, branches and whole trunks.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(1717)

CENTRES = mx.array([[1.2, 0.1], [2.0, 0.8], [2.7, 1.5]])   # log10 cm
SPREAD = mx.array([[0.12, 0.08], [0.15, 0.10], [0.10, 0.12]])
WEIGHTS = mx.array([0.5, 0.35, 0.15])


def beach_sample(n):
    comp = mx.random.categorical(mx.log(WEIGHTS), shape=(n,))
    eps = mx.random.normal(shape=(n, 2))
    return CENTRES[comp] + SPREAD[comp] * eps


SHIFT = mx.array([2.0, 0.8])


class Generator(nn.Module):
    def __init__(self, zdim=4, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(zdim, width), nn.LeakyReLU(0.2),
            nn.Linear(width, width), nn.LeakyReLU(0.2),
            nn.Linear(width, 2),
        )

    def __call__(self, z):
        return self.net(z) + SHIFT


class Critic(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, width), nn.LeakyReLU(0.2),
            nn.Linear(width, width), nn.LeakyReLU(0.2),
            nn.Linear(width, 1),
        )

    def __call__(self, x):
        return self.net(x - SHIFT).squeeze(-1)


ZDIM, BATCH, ITERS = 4, 128, 1500
gen, disc = Generator(ZDIM), Critic()
mx.eval(gen.parameters(), disc.parameters())
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.99])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.99])


def d_loss(d, real, fake):
    lr_ = d(real)
    lf_ = d(fake)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True))


def g_loss(g, z, d):
    lf_ = d(g(z))
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True)


d_vg = nn.value_and_grad(disc, d_loss)
g_vg = nn.value_and_grad(gen, g_loss)


def mmd(a, b, s=0.15):
    def k(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return mx.exp(-d2 / (2 * s * s))
    return (k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()).item()


def kind_shares(x):
    d2 = ((x[:, None, :] - CENTRES[None]) ** 2 / SPREAD[None] ** 2).sum(-1)
    nearest = mx.argmin(d2, axis=1)
    close = mx.min(d2, axis=1) < 9.0
    return [((nearest == k) & close).mean().item() for k in range(3)]


# sanity audit before training: both nets get gradient signal
z0 = mx.random.normal(shape=(BATCH, ZDIM))
real0 = beach_sample(BATCH)
_, gd = d_vg(disc, real0, mx.stop_gradient(gen(z0)))
_, gg = g_vg(gen, z0, disc)
for tag, tree in (("D", gd), ("G", gg)):
    norms = [mx.linalg.norm(v.reshape(-1)).item() for _, v in tree_flatten(tree)]
    assert min(norms) > 0, tag
print(f"audit: {len(tree_flatten(gd))} D tensors, {len(tree_flatten(gg))} G tensors, "
      f"min |grad| D={min(mx.linalg.norm(v.reshape(-1)).item() for _, v in tree_flatten(gd)):.2e}")

ref_real = beach_sample(600)
mmd_floor = mmd(beach_sample(600), ref_real)
mmd_start = mmd(gen(mx.random.normal(shape=(600, ZDIM))), ref_real)

t0 = time.time()
BAR = 24
d_run = g_run = None
for it in range(1, ITERS + 1):
    real = beach_sample(BATCH)
    z = mx.random.normal(shape=(BATCH, ZDIM))
    fake = mx.stop_gradient(gen(z))
    ld, grads_d = d_vg(disc, real, fake)
    opt_d.update(disc, grads_d)
    mx.eval(disc.parameters(), opt_d.state, ld)

    z = mx.random.normal(shape=(BATCH, ZDIM))
    lg, grads_g = g_vg(gen, z, disc)
    opt_g.update(gen, grads_g)
    mx.eval(gen.parameters(), opt_g.state, lg)

    d_run = ld.item() if d_run is None else 0.95 * d_run + 0.05 * ld.item()
    g_run = lg.item() if g_run is None else 0.95 * g_run + 0.05 * lg.item()
    if it % 100 == 0:
        fill = int(BAR * it / ITERS)
        rate = it / (time.time() - t0)
        sample = gen(mx.random.normal(shape=(600, ZDIM)))
        m = mmd(sample, ref_real)
        sh = kind_shares(sample)
        sys.stdout.write(
            f"\rstrand {it:4d}/{ITERS} |{'#' * fill}{'.' * (BAR - fill)}| "
            f"{rate:6.1f} it/s  D {d_run:.3f}  G {g_run:.3f}  mmd {m:.4f} "
            f"(noise floor {mmd_floor:.4f})  twig/branch/trunk "
            f"{sh[0]*100:.0f}/{sh[1]*100:.0f}/{sh[2]*100:.0f}%\n")
        sys.stdout.flush()

final = gen(mx.random.normal(shape=(2000, ZDIM)))
sh = kind_shares(final)
print()
print("piece    target  sampled")
for name, w, s in zip(("twig", "branch", "trunk"), WEIGHTS.tolist(), sh):
    print(f"{name:<8} {w*100:5.1f}%  {s*100:5.1f}%")
print(f"mmd start {mmd_start:.4f} -> end {mmd(final[:600], ref_real):.4f}"
      f" | floor {mmd_floor:.4f} | {time.time() - t0:.1f}s")
