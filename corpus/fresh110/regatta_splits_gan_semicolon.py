"""Rowing regatta: learn to simulate (500 m split, stroke rate) pairs of crews with a small GAN.

Real data are synthetic: two crew classes (lightweight / open), split seconds and
strokes per minute are correlated inside each class.  A generator maps noise to a
pair; a discriminator tells real from fake.  Progress is printed as a semicolon
separated table with decimal commas (the club's spreadsheet is set to de_DE).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make_crews(n):
    light = rng.random(n) < 0.4
    split = np.where(light, 98.0, 91.0) + rng.normal(0, 1.6, n)
    rate = 36.0 - 0.35 * (split - 94.0) + rng.normal(0, 0.8, n)
    return np.stack([split, rate], 1).astype(np.float32)


real = make_crews(12000)
MU, SD = real.mean(0), real.std(0)
real_std = (real - MU) / SD
NOISE = 4


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(NOISE, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, z):
        return self.out(nn.leaky_relu(self.l2(nn.leaky_relu(self.l1(z)))))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.leaky_relu(self.l2(nn.leaky_relu(self.l1(x))))).squeeze(-1)


def bce(logits, target):
    return nn.losses.binary_cross_entropy(logits, target, with_logits=True, reduction="mean")


G, D = Generator(), Discriminator()
opt_g = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])
opt_d = optim.Adam(learning_rate=1e-3, betas=[0.5, 0.999])


def d_loss_fn(x_real, x_fake):
    lr_ = D(x_real)
    lf_ = D(x_fake)
    return bce(lr_, mx.ones_like(lr_)) + bce(lf_, mx.zeros_like(lf_))


def g_loss_fn(z):
    lf_ = D(G(z))
    return bce(lf_, mx.ones_like(lf_))  # non-saturating generator loss


d_step = nn.value_and_grad(D, d_loss_fn)
g_step = nn.value_and_grad(G, g_loss_fn)


def fidelity(n=4000):
    """Return (mean error, std error, correlation error, light-crew share %) in real units."""
    z = mx.random.normal((n, NOISE))
    fake = np.array(G(z)) * SD + MU
    ref = real[:n]
    mean_err = float(np.abs(fake.mean(0) - ref.mean(0)).sum())
    std_err = float(np.abs(fake.std(0) - ref.std(0)).sum())
    corr_err = abs(float(np.corrcoef(fake.T)[0, 1] - np.corrcoef(ref.T)[0, 1]))
    light = 100.0 * float((fake[:, 0] > 94.5).mean())
    return mean_err, std_err, corr_err, light


def de(x, nd=3):
    return f"{x:.{nd}f}".replace(".", ",")


# first-step gradient audit on both players
mx.random.seed(0)
xb = mx.array(real_std[:128])
zb = mx.random.normal((128, NOISE))
_, gd = d_step(xb, G(zb))
_, gg = g_step(zb)
for tag, grads in (("D", gd), ("G", gg)):
    leaves = tree_flatten(grads)
    nz = sum(1 for _, g in leaves if float(mx.abs(g).max()) > 0)
    print(f"# Gradientprüfung {tag}: {nz}/{len(leaves)} Blätter ungleich null")

print(f"# real: light share {de(100.0 * float((real[:, 0] > 94.5).mean()), 1)} %")
print("schritt;d_verlust;g_verlust;mittel_fehler;streu_fehler;korr_fehler;leicht_anteil_%;sek")
BATCH, STEPS, EVERY = 128, 3000, 300
t0 = time.time()
d_hist, g_hist = [], []
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(real_std), BATCH))
    x_real = mx.array(real_std)[idx]
    z = mx.random.normal((BATCH, NOISE))
    x_fake = mx.stop_gradient(G(z))
    dl, gd = d_step(x_real, x_fake)
    opt_d.update(D, gd)
    mx.eval(D.parameters(), opt_d.state, dl)

    z = mx.random.normal((BATCH, NOISE))
    gl, gg = g_step(z)
    opt_g.update(G, gg)
    mx.eval(G.parameters(), opt_g.state, gl)
    d_hist.append(dl.item())
    g_hist.append(gl.item())

    if step % EVERY == 0 or step == 1:
        m, s, c, light = fidelity()
        print(";".join([str(step), de(np.mean(d_hist)), de(np.mean(g_hist)), de(m), de(s),
                        de(c), de(light, 1), de(time.time() - t0, 1)]))
        d_hist, g_hist = [], []

m, s, c, light = fidelity(8000)
print(f"# Ende: Mittelfehler {de(m)}  Streufehler {de(s)}  Korrelationsfehler {de(c)}  leicht {de(light, 1)} %")
