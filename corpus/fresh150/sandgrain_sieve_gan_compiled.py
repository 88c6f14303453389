"""Beach-sand grain shape generator.

A small GAN learns the joint distribution of (log10 grain diameter in mm,
roundness index) measured on sieved beach sand.  Three populations are mixed:
fine wind-blown dune sand, medium swash sand and coarse shell fragments.
Both players take compiled Adam steps; progress is tracked with a sliced
Wasserstein distance to held-out grains (real-vs-real value shown as the floor).
"""
import logging
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s sieve | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("sandgan")

rng = np.random.default_rng(7)


def sample_grains(n):
    comp = rng.choice(3, size=n, p=[0.45, 0.35, 0.20])
    centres = np.array([[-0.85, 0.78], [-0.40, 0.55], [0.15, 0.25]])
    spread = np.array([[0.06, 0.05], [0.08, 0.07], [0.12, 0.06]])
    x = centres[comp] + spread[comp] * rng.standard_normal((n, 2))
    return x.astype(np.float32)


train_np = sample_grains(20000)
hold_a, hold_b = sample_grains(2000), sample_grains(2000)
mu, sd = train_np.mean(0), train_np.std(0)
norm = lambda a: (a - mu) / sd
train = mx.array(norm(train_np))
hold_a_m = mx.array(norm(hold_a))

proj_np = rng.standard_normal((2, 64)).astype(np.float32)
proj_np /= np.linalg.norm(proj_np, axis=0, keepdims=True)
PROJ = mx.array(proj_np)


def sliced_w1(a, b):
    pa = mx.sort(a @ PROJ, axis=0)
    pb = mx.sort(b @ PROJ, axis=0)
    return mx.mean(mx.abs(pa - pb)).item()


floor = sliced_w1(hold_a_m, mx.array(norm(hold_b)))

Z = 4


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(Z, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 2))

    def __call__(self, z):
        return self.net(z)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                                 nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


mx.random.seed(3)
G, D = Generator(), Critic()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])


def d_loss_fn(D, real, fake):
    lr_, lf = D(real), D(fake)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf), with_logits=True))


def g_loss_fn(G, D, z):
    lf = D(G(z))
    return nn.losses.binary_cross_entropy(lf, mx.ones_like(lf), with_logits=True)  # non-saturating


d_vg = nn.value_and_grad(D, d_loss_fn)
g_vg = nn.value_and_grad(G, lambda G, z: g_loss_fn(G, D, z))
state = [G.state, D.state, opt_g.state, opt_d.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(real):
    z = mx.random.normal((real.shape[0], Z))
    fake = mx.stop_gradient(G(z))
    dl, dg = d_vg(D, real, fake)
    opt_d.update(D, dg)
    z2 = mx.random.normal((real.shape[0], Z))
    gl, gg = g_vg(G, z2)
    opt_g.update(G, gg)
    gnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(gg)))
    return dl, gl, gnorm


# audit once, uncompiled: both players get gradient on every tensor
_, dg0 = d_vg(D, train[:256], G(mx.random.normal((256, Z))))
_, gg0 = g_vg(G, mx.random.normal((256, Z)))
dead = [k for k, v in tree_flatten(dg0) + tree_flatten(gg0) if mx.abs(v).max().item() == 0]
log.info("audit: critic %d tensors, generator %d tensors, zero-grad %s",
         len(tree_flatten(dg0)), len(tree_flatten(gg0)), dead or "none")

with mx.stream(mx.cpu):
    z_fixed = mx.random.normal((2000, Z))
log.info("start: SW1 %.4f (real-vs-real floor %.4f)", sliced_w1(G(z_fixed), hold_a_m), floor)

STEPS, BATCH, EVERY = 2000, 256, 200
n = train.shape[0]
t0 = time.perf_counter()
acc_d = acc_g = 0.0
for it in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, n, BATCH))
    dl, gl, gn = train_step(train[idx])
    mx.eval(state, dl, gl, gn)
    acc_d += dl.item()
    acc_g += gl.item()
    if it % EVERY == 0:
        sw = sliced_w1(G(z_fixed), hold_a_m)
        rate = it / (time.perf_counter() - t0)
        bar = "#" * (it * 20 // STEPS)
        log.info("[%-20s] %4d/%d %5.0f it/s  D %.3f  G %.3f  |gG| %.3f  SW1 %.4f (floor %.4f)",
                 bar, it, STEPS, rate, acc_d / EVERY, acc_g / EVERY, gn.item(), sw, floor)
        acc_d = acc_g = 0.0

fake = np.array(G(z_fixed)) * sd + mu
real = hold_a
for name, col in (("log10 d[mm]", 0), ("roundness", 1)):
    log.info("%-12s real mean %.3f sd %.3f | generated mean %.3f sd %.3f",
             name, real[:, col].mean(), real[:, col].std(), fake[:, col].mean(), fake[:, col].std())
coarse_real = float((real[:, 0] > -0.1).mean() * 100)
coarse_fake = float((fake[:, 0] > -0.1).mean() * 100)
log.info("shell-fragment share: real %.1f%%  generated %.1f%%", coarse_real, coarse_fake)
log.info("done in %.1fs", time.perf_counter() - t0)
