"""Correct loop: a small GAN on a 1-D two-Gaussian mixture, two networks, two optimizers.

Healthy GAN training: the discriminator and generator losses do not fall together, they
oscillate around the equilibrium (d_loss ~ 2*ln 2, g_loss ~ ln 2) while the generated
samples' statistics move towards the data's. Both networks train every step.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(12)
Z = 4


def real_batch(n):
    comp = mx.random.uniform(shape=(n, 1)) < 0.5
    return mx.where(comp, -2.0, 2.0) + 0.4 * mx.random.normal((n, 1))


G = nn.Sequential(nn.Linear(Z, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
D = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2),
                  nn.Linear(32, 1))
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
bce = nn.losses.binary_cross_entropy


def d_loss_fn(D, real, fake):
    ones, zeros = mx.ones((real.shape[0], 1)), mx.zeros((fake.shape[0], 1))
    return bce(D(real), ones, reduction="mean") + bce(D(fake), zeros, reduction="mean")


def g_loss_fn(G, z):
    return bce(D(G(z)), mx.ones((z.shape[0], 1)), reduction="mean")


d_step = nn.value_and_grad(D, d_loss_fn)
g_step = nn.value_and_grad(G, g_loss_fn)
B = 128
for it in range(1, 2001):
    real = real_batch(B)
    fake = mx.stop_gradient(G(mx.random.normal((B, Z))))
    d_loss, d_grads = d_step(D, real, fake)
    opt_d.update(D, d_grads)
    g_loss, g_grads = g_step(G, mx.random.normal((B, Z)))
    opt_g.update(G, g_grads)
    mx.eval(D.parameters(), G.parameters(), opt_d.state, opt_g.state, d_loss, g_loss)
    if it % 100 == 0:
        sample = G(mx.random.normal((2000, Z)))
        frac_right = (sample > 0).mean().item()
        spread = mx.abs(sample).mean().item()
        print(f"it {it:5d}  d_loss {d_loss.item():.3f}  g_loss {g_loss.item():.3f}  "
              f"frac>0 {frac_right:.2f}  mean|x| {spread:.2f} (data: 0.50, 2.00)", flush=True)
