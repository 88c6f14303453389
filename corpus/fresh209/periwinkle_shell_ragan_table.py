"""Relativistic-average GAN for periwinkle shell heights (mm) on a rocky shore.

Two cohorts live on the transect: juveniles (~6 mm) and adults (~17 mm).
The generator maps 4-d noise to a shell height; the critic scores heights.
Two critic steps per generator step, generator lr warms up from 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(209)
N_REAL = 6000
juv = rng.normal(6.2, 1.1, size=int(N_REAL * 0.4))
adult = rng.normal(17.0, 2.3, size=N_REAL - juv.size)
heights = np.concatenate([juv, adult]).astype(np.float32)
MU, SD = float(heights.mean()), float(heights.std())
real_all = mx.array(((heights - MU) / SD)[:, None])

Z_DIM = 4
BATCH = 128
G_STEPS = 1500
D_PER_G = 2


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(Z_DIM, 48), nn.LeakyReLU(0.2),
            nn.Linear(48, 48), nn.LeakyReLU(0.2),
            nn.Linear(48, 1),
        )

    def __call__(self, z):
        return self.net(z)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, 64), nn.LeakyReLU(0.2),
            nn.Linear(64, 64), nn.LeakyReLU(0.2),
            nn.Linear(64, 1),
        )

    def __call__(self, x):
        return self.net(x)


mx.random.seed(209)
G, D = Gen(), Critic()
mx.eval(G.parameters(), D.parameters())

opt_g = optim.Adam(learning_rate=optim.linear_schedule(0.0, 1e-3, 150), betas=[0.5, 0.9])
opt_d = optim.Adam(learning_rate=2e-3, betas=[0.5, 0.9])


def ragan_d_loss(Dm, real, fake):
    cr, cf = Dm(real), Dm(fake)
    a = cr - cf.mean()
    b = cf - cr.mean()
    return nn.losses.binary_cross_entropy(a, mx.ones_like(a), with_logits=True, reduction="mean") + \
        nn.losses.binary_cross_entropy(b, mx.zeros_like(b), with_logits=True, reduction="mean")


def ragan_g_loss(Gm, z, real):
    fake = Gm(z)
    cr, cf = D(real), D(fake)
    a = cr - cf.mean()
    b = cf - cr.mean()
    return nn.losses.binary_cross_entropy(a, mx.zeros_like(a), with_logits=True, reduction="mean") + \
        nn.losses.binary_cross_entropy(b, mx.ones_like(b), with_logits=True, reduction="mean")


d_step = nn.value_and_grad(D, ragan_d_loss)
g_step = nn.value_and_grad(G, ragan_g_loss)


def sample_real(n):
    idx = mx.random.randint(0, N_REAL, (n,))
    return real_all[idx]


def w1_mm(fake_mm, n=4000):
    """1-D earth mover distance between sorted samples, in mm."""
    ref = np.sort(rng.choice(heights, n, replace=False))
    return float(np.mean(np.abs(np.sort(fake_mm[:n]) - ref)))


def cohort_share(x_mm):
    return float(np.mean(x_mm < 11.5))


z_eval = mx.random.normal((4000, Z_DIM))
prior_baseline = w1_mm(np.asarray(mx.random.normal((4000,))) * SD + MU)
print(f"periwinkle transect: {N_REAL} shells, mean {MU:.2f} mm, sd {SD:.2f} mm, juvenile share {cohort_share(heights):.1%}")
print(f"baseline W1 of an untrained N(mean,sd) guess: {prior_baseline:.3f} mm")
hdr = f"{'gstep':>6} | {'lr_g':>8} | {'D':>7} | {'G':>7} | {'W1':>7} | {'ref':>7} | {'juv%':>6} | {'mean':>6} | {'sd':>5} | {'|gG|':>7}"
print(hdr)
print("-" * len(hdr))

t0 = time.time()
for gs in range(G_STEPS + 1):
    for _ in range(D_PER_G):
        real = sample_real(BATCH)
        fake = mx.stop_gradient(G(mx.random.normal((BATCH, Z_DIM))))
        d_loss, d_grads = d_step(D, real, fake)
        opt_d.update(D, d_grads)
        mx.eval(D.parameters(), opt_d.state, d_loss)
    lr_now = opt_g.learning_rate.item()
    g_loss, g_grads = g_step(G, mx.random.normal((BATCH, Z_DIM)), sample_real(BATCH))
    gnorm = optim.clip_grad_norm(g_grads, 1e9)[1]
    opt_g.update(G, g_grads)
    mx.eval(G.parameters(), opt_g.state, g_loss, gnorm)

    if gs % 150 == 0:
        fake_mm = np.asarray(G(z_eval)).ravel() * SD + MU
        print(f"{gs:>6} | {lr_now:>8.2e} | {d_loss.item():>7.4f} | {g_loss.item():>7.4f} | "
              f"{w1_mm(fake_mm):>7.3f} | {prior_baseline:>7.3f} | {cohort_share(fake_mm):>6.1%} | "
              f"{fake_mm.mean():>6.2f} | {fake_mm.std():>5.2f} | {gnorm.item():>7.3f}")

fake_mm = np.asarray(G(z_eval)).ravel() * SD + MU
print("-" * len(hdr))
print(f"done in {time.time() - t0:.1f}s; final W1 {w1_mm(fake_mm):.3f} mm vs baseline {prior_baseline:.3f} mm; "
      f"juveniles {cohort_share(fake_mm):.1%} (data {cohort_share(heights):.1%})")
