"""Fairground carousel: learn where the painted horses sit.

Each of the 8 horses is photographed from above at a random moment; its
(x, y) position on the platform (metres from the centre pole) is its slot
on a 2 m ring plus a little jitter from the up-and-down pole mechanism.
A small GAN learns to draw new plausible horse positions.

Two players, two optimizers:
  * the discriminator (critic of photos) is trained with BCE on real vs fake,
  * the generator with the non-saturating loss -log D(G(z)).
Their losses are expected to trade places while the game settles.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_HORSES = 8
RING_R = 2.0
JITTER = 0.08
Z_DIM = 4
BATCH = 128
STEPS = 2400
REPORT = 300

rng = np.random.default_rng(11)
mx.random.seed(11)
SLOTS = np.stack([RING_R * np.cos(2 * np.pi * np.arange(N_HORSES) / N_HORSES),
                  RING_R * np.sin(2 * np.pi * np.arange(N_HORSES) / N_HORSES)], 1).astype(np.float32)


def photos(n):
    k = rng.integers(0, N_HORSES, n)
    return SLOTS[k] + JITTER * rng.standard_normal((n, 2)).astype(np.float32)


class Painter(nn.Module):          # generator
    def __init__(self, hidden=96):
        super().__init__()
        self.l1 = nn.Linear(Z_DIM, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, z):
        h = nn.leaky_relu(self.l1(z), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h)


class Inspector(nn.Module):        # discriminator
    def __init__(self, hidden=96):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.leaky_relu(self.l1(x), 0.2)
        h = nn.leaky_relu(self.l2(h), 0.2)
        return self.out(h).squeeze(-1)


G = Painter()
D = Inspector()
mx.eval(G.parameters(), D.parameters())
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])


def d_loss_fn(d, real, fake):
    lr_ = nn.losses.binary_cross_entropy(d(real), mx.ones(real.shape[0]), with_logits=True)
    lf_ = nn.losses.binary_cross_entropy(d(fake), mx.zeros(fake.shape[0]), with_logits=True)
    return lr_ + lf_


def g_loss_fn(g, z):
    # non-saturating generator loss; D is only read here, its grads are not taken
    return nn.losses.binary_cross_entropy(D(g(z)), mx.ones(z.shape[0]), with_logits=True)


d_vg = nn.value_and_grad(D, d_loss_fn)
g_vg = nn.value_and_grad(G, g_loss_fn)


def sliced_w1(a, b, n_proj=64, seed=0):
    """Sliced 1-Wasserstein distance between two point clouds (numpy)."""
    r = np.random.default_rng(seed)
    th = r.uniform(0, np.pi, n_proj)
    dirs = np.stack([np.cos(th), np.sin(th)], 1)
    pa = np.sort(a @ dirs.T, 0)
    pb = np.sort(b @ dirs.T, 0)
    return float(np.abs(pa - pb).mean())


def horse_census(pts):
    d = np.linalg.norm(pts[:, None, :] - SLOTS[None], axis=-1)
    nearest = d.argmin(1)
    close = d.min(1) < 4 * JITTER
    counts = np.bincount(nearest[close], minlength=N_HORSES)
    found = int((counts >= 0.02 * len(pts)).sum())
    return found, 100.0 * close.mean()


eval_real = photos(4000)
z_eval = mx.random.normal((4000, Z_DIM))


def report(step, dl, gl, t0):
    fake = np.array(G(z_eval))
    swd = sliced_w1(fake, eval_real)
    found, on_track = horse_census(fake)
    radius = float(np.linalg.norm(fake, axis=1).mean())
    dls = "   -  " if dl is None else f"{dl:6.3f}"
    gls = "   -  " if gl is None else f"{gl:6.3f}"
    print(f"carousel[{step:04d}]  D={dls}  G={gls}  | sliced-W1 {swd:6.3f} m"
          f"  | horses found {found}/{N_HORSES}  on-ring {on_track:5.1f}%"
          f"  mean radius {radius:4.2f} m  ({time.perf_counter() - t0:4.1f}s)")


print(f"carousel: {N_HORSES} horses on a {RING_R} m ring, jitter {JITTER} m; "
      f"painter {sum(v.size for _, v in tree_flatten(G.parameters()))} params, "
      f"inspector {sum(v.size for _, v in tree_flatten(D.parameters()))} params")
t0 = time.perf_counter()
report(0, None, None, t0)

d_hist, g_hist = [], []
for step in range(1, STEPS + 1):
    real = mx.array(photos(BATCH))
    z = mx.random.normal((BATCH, Z_DIM))
    fake = mx.stop_gradient(G(z))
    dl, dg = d_vg(D, real, fake)
    if step == 1:
        zero = [k for k, v in tree_flatten(dg) if not mx.any(v != 0).item()]
        print(f"  first inspector step: {len(tree_flatten(dg))} grad arrays, all-zero: {zero}")
    opt_d.update(D, dg)
    mx.eval(D.parameters(), opt_d.state, dl)

    z = mx.random.normal((BATCH, Z_DIM))
    gl, gg = g_vg(G, z)
    if step == 1:
        zero = [k for k, v in tree_flatten(gg) if not mx.any(v != 0).item()]
        print(f"  first painter step:   {len(tree_flatten(gg))} grad arrays, all-zero: {zero}")
    opt_g.update(G, gg)
    mx.eval(G.parameters(), opt_g.state, gl)

    d_hist.append(dl.item())
    g_hist.append(gl.item())
    if step % REPORT == 0:
        report(step, np.mean(d_hist[-REPORT:]), np.mean(g_hist[-REPORT:]), t0)

fake = np.array(G(z_eval))
print(f"done: sliced-W1 of the untouched jitter noise floor ~ {sliced_w1(photos(4000), eval_real):.3f} m; "
      f"final {sliced_w1(fake, eval_real):.3f} m; ln4 = {math.log(4):.3f} is D's loss at the equilibrium")
