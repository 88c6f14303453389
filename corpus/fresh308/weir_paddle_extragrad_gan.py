"""Weir-keeper log sampler: a small GAN over (head above crest m, paddle gap cm)
readings from a river weir, trained with extra-gradient steps, a spectrally
normalised critic and instance noise that fades out over the run.

Readings come from three river states (low summer flow, normal, spate).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 11
STEPS = 700
BATCH = 128
Z_DIM = 3
EXTRA_ETA = 0.02          # size of the look-ahead (extrapolation) step
NOISE_START = 0.6         # instance-noise std in standardised units
NOISE_END_AT = 0.7        # fraction of the run after which the noise is zero
REPORT_AT = (0, 100, 350, 525, 699)

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def weir_readings(n, rng):
    state = rng.choice(3, size=n, p=[0.45, 0.40, 0.15])
    head = np.empty(n)
    gap = np.empty(n)
    # low summer flow: thin head, paddles nearly shut
    m = state == 0
    head[m] = rng.normal(0.12, 0.03, m.sum())
    gap[m] = 4.0 + 30.0 * head[m] + rng.normal(0, 0.8, m.sum())
    # normal flow
    m = state == 1
    head[m] = rng.normal(0.35, 0.06, m.sum())
    gap[m] = 6.0 + 38.0 * head[m] + rng.normal(0, 1.5, m.sum())
    # spate: paddles drawn well open, gap saturates
    m = state == 2
    head[m] = rng.normal(0.85, 0.12, m.sum())
    gap[m] = 55.0 * np.tanh(1.6 * head[m]) + rng.normal(0, 2.5, m.sum())
    return np.stack([head, gap], 1), state


raw, states = weir_readings(20000, rng)
mu, sd = raw.mean(0), raw.std(0)
data = ((raw - mu) / sd).astype(np.float32)
held_raw, _ = weir_readings(4000, np.random.default_rng(SEED + 1))
held = ((held_raw - mu) / sd).astype(np.float32)
centres = np.array([[0.12, 8.0], [0.35, 19.3], [0.85, 48.0]])


class SNLinear(nn.Module):
    """Linear layer whose weight is divided by a power-iteration estimate of
    its largest singular value. The left vector u lives outside the module."""

    def __init__(self, din, dout):
        super().__init__()
        self.inner = nn.Linear(din, dout)

    def sigma(self, u):
        w = self.inner.weight            # (dout, din)
        u = mx.stop_gradient(u)
        v = w.T @ u
        v = mx.stop_gradient(v / (mx.linalg.norm(v) + 1e-12))
        return mx.sum(u * (w @ v))

    def __call__(self, x, u):
        s = self.sigma(u)
        return x @ (self.inner.weight / s).T + self.inner.bias


class Critic(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.l1 = SNLinear(2, h)
        self.l2 = SNLinear(h, h)
        self.l3 = SNLinear(h, 1)

    def layers_(self):
        return [self.l1, self.l2, self.l3]

    def __call__(self, x, us):
        x = nn.leaky_relu(self.l1(x, us[0]), 0.2)
        x = nn.leaky_relu(self.l2(x, us[1]), 0.2)
        return self.l3(x, us[2])


class Sampler(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(Z_DIM, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 2)
        )

    def __call__(self, z):
        return self.net(z)


G = Sampler()
D = Critic()
mx.eval(G.parameters(), D.parameters())
us = [mx.random.normal((l.inner.weight.shape[0],)) for l in D.layers_()]
us = [u / mx.linalg.norm(u) for u in us]


def refresh_u(us):
    out = []
    for l, u in zip(D.layers_(), us):
        w = l.inner.weight
        v = w.T @ u
        v = v / (mx.linalg.norm(v) + 1e-12)
        u2 = w @ v
        out.append(u2 / (mx.linalg.norm(u2) + 1e-12))
    return out


for _ in range(20):
    us = refresh_u(us)
mx.eval(us)


def d_loss(D, real, fake, us):
    lr_ = D(real, us)
    lf = D(fake, us)
    return mx.mean(nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_))) + mx.mean(
        nn.losses.binary_cross_entropy(lf, mx.zeros_like(lf))
    )


def g_loss(G, z, noise, us):
    fake = G(z) + noise
    lf = D(fake, us)
    return mx.mean(nn.losses.binary_cross_entropy(lf, mx.ones_like(lf)))


d_vg = nn.value_and_grad(D, d_loss)
g_vg = nn.value_and_grad(G, g_loss)
opt_d = optim.Adam(learning_rate=6e-4, betas=[0.5, 0.9])
opt_g = optim.Adam(learning_rate=4e-4, betas=[0.5, 0.9])


def noise_std(step):
    frac = step / (STEPS * NOISE_END_AT)
    return NOISE_START * max(0.0, 1.0 - frac)


def sliced_w1(a, b, n_proj=64, seed=0):
    r = np.random.default_rng(seed)
    dirs = r.normal(size=(n_proj, 2))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pa = np.sort(a @ dirs.T, axis=0)
    pb = np.sort(b @ dirs.T, axis=0)
    return float(np.mean(np.abs(pa - pb)))


def state_shares(x_raw):
    scale = np.array([1.0 / 0.15, 1.0 / 8.0])
    d = (((x_raw[:, None, :] - centres[None]) * scale) ** 2).sum(-1)
    lab = d.argmin(1)
    return [100.0 * np.mean(lab == k) for k in range(3)]


floor = sliced_w1(data[:4000], held)
print("---")
print("run: weir_paddle")
print(f"readings: {len(data)}  held_out: {len(held)}")
print(f"sliced_w1_real_vs_real: {floor:.4f}")
print(f"target_state_shares_pct: [45.0, 40.0, 15.0]")
print(f"sigma_after_warm_power_iter: {[round(float(l.sigma(u)), 3) for l, u in zip(D.layers_(), us)]}")

t0 = time.time()
hist_d, hist_g = [], []
for step in range(STEPS):
    idx = rng.integers(0, len(data), BATCH)
    real = mx.array(data[idx])
    s = noise_std(step)
    n_real = mx.random.normal(real.shape) * s
    n_fake = mx.random.normal(real.shape) * s
    z = mx.random.normal((BATCH, Z_DIM))

    pD = D.parameters()
    pG = G.parameters()

    # look-ahead: gradients at the current point, small step for both players
    fake = mx.stop_gradient(G(z)) + n_fake
    _, gd = d_vg(D, real + n_real, fake, us)
    _, gg = g_vg(G, z, n_fake, us)
    D.update(tree_map(lambda p, g: p - EXTRA_ETA * g, pD, gd))
    G.update(tree_map(lambda p, g: p - EXTRA_ETA * g, pG, gg))

    # gradients at the look-ahead point, applied from the saved point
    z2 = mx.random.normal((BATCH, Z_DIM))
    fake2 = mx.stop_gradient(G(z2)) + n_fake
    ld, gd2 = d_vg(D, real + n_real, fake2, us)
    lg, gg2 = g_vg(G, z2, n_fake, us)
    D.update(pD)
    G.update(pG)
    opt_d.update(D, gd2)
    opt_g.update(G, gg2)
    us = refresh_u(us)
    mx.eval(D.parameters(), G.parameters(), opt_d.state, opt_g.state, us, ld, lg)
    hist_d.append(ld.item())
    hist_g.append(lg.item())

    if step in REPORT_AT:
        zs = mx.random.normal((4000, Z_DIM))
        samp = np.array(G(zs))
        sw = sliced_w1(samp, held)
        shares = state_shares(samp * sd + mu)
        w = slice(max(0, step - 49), step + 1)
        print("---")
        print(f"step: {step}")
        print(f"instance_noise: {s:.3f}")
        print(f"d: {np.mean(hist_d[w]):.4f}")
        print(f"g: {np.mean(hist_g[w]):.4f}")
        print(f"sliced_w1: {sw:.4f}")
        print(f"state_shares_pct: [{shares[0]:.1f}, {shares[1]:.1f}, {shares[2]:.1f}]")
        print(f"head_mean_m: {float((samp * sd + mu)[:, 0].mean()):.3f}  ref: {float(held_raw[:, 0].mean()):.3f}")
        print(f"gap_mean_cm: {float((samp * sd + mu)[:, 1].mean()):.2f}  ref: {float(held_raw[:, 1].mean()):.2f}")
        print(f"elapsed_s: {time.time() - t0:.1f}")

n_params = sum(v.size for _, v in tree_flatten(G.parameters())) + sum(
    v.size for _, v in tree_flatten(D.parameters())
)
print("---")
print("done: true")
print(f"params: {n_params}")
print(f"critic_sigmas: {[round(float(l.sigma(u)), 3) for l, u in zip(D.layers_(), us)]}")
