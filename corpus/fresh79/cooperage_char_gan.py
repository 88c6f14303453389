"""Toy GAN: learn the distribution of char depth (mm) measured on toasted oak barrel staves.

Real data: mixture of light toast (~1.2 mm), medium (~2.4 mm) and heavy char (~4.0 mm).
Generator G: noise(4) -> depth; discriminator D: depth -> logit.  Two Adam optimizers,
one D step and one G step per iteration (non-saturating loss).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

MODES = np.array([1.2, 2.4, 4.0]); SDS = np.array([0.15, 0.25, 0.35]); W = np.array([0.3, 0.45, 0.25])


def staves(n):
    k = rng.choice(3, size=n, p=W)
    return (MODES[k] + SDS[k] * rng.standard_normal(n)).astype(np.float32)


real_pool = staves(20000)
MU, SD = float(real_pool.mean()), float(real_pool.std())
held_out = np.sort(staves(4000))


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32),
                                 nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32),
                                 nn.LeakyReLU(0.2), nn.Linear(32, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


G, D = Gen(), Disc()
optG = optim.Adam(learning_rate=optim.cosine_decay(1e-3, 3000, 1e-4), betas=[0.5, 0.999])
optD = optim.Adam(learning_rate=optim.cosine_decay(1e-3, 3000, 1e-4), betas=[0.5, 0.999])
BCE = nn.losses.binary_cross_entropy


def d_loss(d, fake, real):
    lr, lf = d(real), d(fake)
    return BCE(lr, mx.ones_like(lr), reduction="mean") + BCE(lf, mx.zeros_like(lf), reduction="mean")


def g_loss(g, d, z):
    lf = d(g(z))
    return BCE(lf, mx.ones_like(lf), reduction="mean")


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, lambda g, z: g_loss(g, D, z))


def w1_mm(n=4000):
    z = mx.random.normal((n, 4))
    fake = np.sort(np.array(G(z)).ravel() * SD + MU)
    return float(np.mean(np.abs(fake - held_out))), fake


def mode_shares(fake):
    edges = [1.8, 3.2]
    lo = np.mean(fake < edges[0]); hi = np.mean(fake > edges[1])
    return 100 * lo, 100 * (1 - lo - hi), 100 * hi


BATCH, ITERS = 128, 3000
w0, f0 = w1_mm()
print(f"real stave char depth: mean {MU:.2f} mm, sd {SD:.2f} mm; shares light/medium/heavy "
      f"{100*W[0]:.0f}/{100*W[1]:.0f}/{100*W[2]:.0f} %")
print(f"untrained generator: W1 to held-out staves {w0:.3f} mm")

t0 = time.time()
dl_win, gl_win = [], []
for it in range(1, ITERS + 1):
    real = mx.array(((rng.choice(real_pool, BATCH) - MU) / SD)[:, None])
    z = mx.random.normal((BATCH, 4))
    fake = mx.stop_gradient(G(z))
    dl, dg = d_vg(D, fake, real)
    if it == 1:
        flat = tree_flatten(dg)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        print(f"iter 1 check: discriminator grads on {len(flat)} leaves, all-zero leaves: {zero}")
    optD.update(D, dg)
    mx.eval(D.parameters(), optD.state, dl)

    z = mx.random.normal((BATCH, 4))
    gl, gg = g_vg(G, z)
    if it == 1:
        flat = tree_flatten(gg)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        print(f"iter 1 check: generator grads on {len(flat)} leaves, all-zero leaves: {zero}")
    optG.update(G, gg)
    mx.eval(G.parameters(), optG.state, gl)
    dl_win.append(dl.item()); gl_win.append(gl.item())

    if it % 300 == 0:
        w, fk = w1_mm()
        a, b, c = mode_shares(fk)
        print(f"iter {it:5d} | D loss {np.mean(dl_win):.3f} | G loss {np.mean(gl_win):.3f} | "
              f"W1 {w:.3f} mm | light/med/heavy {a:4.1f}/{b:4.1f}/{c:4.1f} % | {time.time()-t0:5.1f}s")
        dl_win, gl_win = [], []

w, fk = w1_mm()
print(f"finished: W1 {w0:.3f} -> {w:.3f} mm (lower is better; an equilibrium D loss is 2 ln 2 = 1.386)")
