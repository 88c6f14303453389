"""Fit a small GAN to shell measurements from a beach survey.

Each shell is (log aperture width, whorl count, spire angle) for one of three
snail species found on the same strand.  We have no parametric model for the
joint distribution, so a generator learns to forge plausible shells and a
critic learns to tell forged shells from surveyed ones.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(79)

SPECIES = {
    #            log_ap  whorls  spire   share
    "periwinkle": (0.9, 4.2, 78.0, 0.50),
    "dogwhelk":   (1.4, 6.1, 62.0, 0.30),
    "topshell":   (1.8, 5.0, 95.0, 0.20),
}


def survey(n):
    names = list(SPECIES)
    shares = np.array([SPECIES[k][3] for k in names])
    which = rng.choice(len(names), size=n, p=shares)
    out = np.empty((n, 3), dtype=np.float32)
    for i, k in enumerate(names):
        m = which == i
        la, wh, sp, _ = SPECIES[k]
        c = m.sum()
        out[m, 0] = la + 0.12 * rng.standard_normal(c)
        out[m, 1] = wh + 0.35 * rng.standard_normal(c)
        out[m, 2] = sp + 4.0 * rng.standard_normal(c)
    return out, which


shells, kinds = survey(12000)
mu, sd = shells.mean(0), shells.std(0)
Z = (shells - mu) / sd
centres = np.array([[(SPECIES[k][0] - mu[0]) / sd[0],
                     (SPECIES[k][1] - mu[1]) / sd[1],
                     (SPECIES[k][2] - mu[2]) / sd[2]] for k in SPECIES], dtype=np.float32)
true_share = np.bincount(kinds, minlength=3) / len(kinds)

NOISE = 6


class Forger(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(NOISE, 64), nn.LeakyReLU(0.2),
                                  nn.Linear(64, 64), nn.LeakyReLU(0.2),
                                  nn.Linear(64, 3))

    def __call__(self, z):
        return self.body(z)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 64), nn.LeakyReLU(0.2),
                                  nn.Linear(64, 64), nn.LeakyReLU(0.2),
                                  nn.Linear(64, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def critic_loss(critic, real, fake):
    # fake arrives already detached (stop_gradient) so only the critic learns here
    lr_ = critic(real)
    lf_ = critic(fake)
    return (nn.losses.binary_cross_entropy(lr_, mx.ones_like(lr_), with_logits=True)
            + nn.losses.binary_cross_entropy(lf_, mx.zeros_like(lf_), with_logits=True))


def forger_loss(forger, critic, z):
    lf_ = critic(forger(z))
    # non-saturating generator loss
    return nn.losses.binary_cross_entropy(lf_, mx.ones_like(lf_), with_logits=True)


forger, critic = Forger(), Critic()
mx.eval(forger.parameters(), critic.parameters())
opt_g = optim.Adam(learning_rate=2e-4, betas=[0.5, 0.999])
opt_c = optim.Adam(learning_rate=2e-4, betas=[0.5, 0.999])
c_step = nn.value_and_grad(critic, critic_loss)
g_step = nn.value_and_grad(forger, forger_loss)


def species_mix(x):
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    lab = d.argmin(1)
    near = np.sqrt(d.min(1)) < 1.0
    return np.bincount(lab[near], minlength=3) / len(x), near.mean()


def sliced_w1(a, b, n_proj=32):
    r = np.random.default_rng(0)
    tot = 0.0
    for _ in range(n_proj):
        v = r.standard_normal(3)
        v /= np.linalg.norm(v)
        tot += np.abs(np.sort(a @ v) - np.sort(b @ v)).mean()
    return tot / n_proj


def audit(name, grads):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print(f"  gradient audit [{name}]: {len(leaves)} leaves, zero-gradient leaves: {zero or 'none'}")


held = Z[rng.choice(len(Z), 3000, replace=False)]


def report(rnd, d_avg, g_avg, t0):
    fake = np.array(forger(mx.random.normal((3000, NOISE))))
    share, on_species = species_mix(fake)
    w1 = sliced_w1(fake, held)
    tv = 0.5 * np.abs(share / max(share.sum(), 1e-9) - true_share).sum()
    print(f"round {rnd:5d} | critic {d_avg:6.3f} | forger {g_avg:6.3f} | "
          f"sliced-W1 {w1:6.3f} | on-species {100 * on_species:5.1f}% | "
          f"mix error {100 * tv:5.1f}% | {time.time() - t0:5.1f}s")


B = 128
ROUNDS = 3000
print(f"surveyed shells: {len(Z)} (3 species, shares {np.round(true_share, 3).tolist()})")
print("critic loss: real+forged BCE, ln4 = 1.386 when the critic is fooled; "
      "forger loss: non-saturating BCE, ln2 = 0.693 at balance")
print("sliced-W1 and mix error: lower is better; on-species: share of forged shells "
      "within 1 sd of a species centre")
t0 = time.time()
report(0, float("nan"), float("nan"), t0)
d_hist, g_hist = [], []
for rnd in range(1, ROUNDS + 1):
    idx = mx.array(rng.integers(0, len(Z), B))
    real = mx.array(Z)[idx]
    z = mx.random.normal((B, NOISE))
    fake = mx.stop_gradient(forger(z))
    d_loss, d_grads = c_step(critic, real, fake)
    if rnd == 1:
        audit("critic", d_grads)
    opt_c.update(critic, d_grads)
    mx.eval(critic.parameters(), opt_c.state, d_loss)

    z = mx.random.normal((B, NOISE))
    g_loss, g_grads = g_step(forger, critic, z)
    if rnd == 1:
        audit("forger", g_grads)
    opt_g.update(forger, g_grads)
    mx.eval(forger.parameters(), opt_g.state, g_loss)

    d_hist.append(d_loss.item())
    g_hist.append(g_loss.item())
    if rnd % 250 == 0 or rnd in (25, 100):
        w = min(len(d_hist), 100)
        report(rnd, sum(d_hist[-w:]) / w, sum(g_hist[-w:]) / w, t0)

fake = np.array(forger(mx.random.normal((5000, NOISE)))) * sd + mu
print("forged shell means vs survey:")
for j, col in enumerate(["log aperture", "whorls", "spire angle"]):
    print(f"  {col:13s} forged {fake[:, j].mean():7.3f} +- {fake[:, j].std():6.3f}   "
          f"survey {shells[:, j].mean():7.3f} +- {shells[:, j].std():6.3f}")
print(f"done in {time.time() - t0:.1f}s")
