"""GAN for daily sap-flow curves at a maple sugarbush tap line.

Each day is 16 hourly readings (litres per hour): no flow while frozen, a rise after the
morning thaw, a peak around midday and a stop at the evening refreeze. The generator is
checked against held-out days every report, and a few generated days are printed.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
mx.random.seed(11)
H = 16
ZD = 6


def make_days(n):
    hours = np.arange(H)[None, :]
    onset = rng.uniform(2.0, 6.0, size=(n, 1))
    stop = onset + rng.uniform(6.0, 10.0, size=(n, 1))
    peak = rng.gamma(4.0, 0.9, size=(n, 1))
    phase = np.clip((hours - onset) / (stop - onset), 0.0, 1.0)
    flow = peak * np.sin(np.pi * phase) ** 1.5
    flow += rng.normal(0.0, 0.12, size=flow.shape) * (flow > 0)
    return np.clip(flow, 0.0, None).astype(np.float32)


train = make_days(6000)
held = make_days(800)
mu, sd = train.mean(0), train.std(0) + 1e-3


def to_z(a):
    return (a - mu) / sd


def from_z(a):
    return np.clip(a * sd + mu, 0.0, None)


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(ZD, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, H))

    def __call__(self, z):
        return self.net(z)


class Disc(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(H, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


G, D = Gen(), Disc()
opt_g = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.9])
opt_d = optim.Adam(learning_rate=5e-4, betas=[0.5, 0.9])


def d_loss(dmod, real, fake):
    lr_, lf = dmod(real), dmod(fake)
    return mx.mean(nn.softplus(-lr_)) + mx.mean(nn.softplus(lf))


def g_loss(gmod, z):
    return mx.mean(nn.softplus(-D(gmod(z))))


d_grad = nn.value_and_grad(D, d_loss)
g_grad = nn.value_and_grad(G, g_loss)


def mmd2(a, b, scale=4.0):
    def k(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * scale * H * 0.05))
    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())


def day_stats(days):
    on = days > 0.3
    total = days.sum(1)
    hours_flowing = on.sum(1)
    return total.mean(), hours_flowing.mean(), (days[:, :2] > 0.3).mean()


def generate(n, key):
    z = mx.random.normal((n, ZD), key=key)
    return from_z(np.array(G(z)))


gauss_mu, gauss_cov = train.mean(0), np.cov(train.T)
gauss_days = np.clip(rng.multivariate_normal(gauss_mu, gauss_cov, size=600), 0, None).astype(np.float32)
real_sub = held[:600]
print(f"sap days: {len(train)} train, {len(held)} held-out, {H} hourly readings each")
tot, hrs, early = day_stats(real_sub)
print(f"held-out days: mean total {tot:.1f} L, {hrs:.1f} h flowing, frozen-hour leaks {100 * early:.1f}%")
print(f"baselines, MMD^2 to held-out: second train draw {mmd2(train[:600], real_sub):.4f} | "
      f"gaussian fit {mmd2(gauss_days, real_sub):.4f} | untrained G {mmd2(generate(600, mx.random.key(1)), real_sub):.4f}")
print()
print("step\td_loss\tg_loss\tD(real)\tD(fake)\tmmd2\ttotal_L\thours\tsecs")

train_z = mx.array(to_z(train))
STEPS = 1500
t0 = time.time()
dl_hist, gl_hist, pr_hist, pf_hist = [], [], [], []
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(train), size=64))
    real = train_z[idx]
    fake = mx.stop_gradient(G(mx.random.normal((64, ZD))))
    dl, dg = d_grad(D, real, fake)
    opt_d.update(D, dg)
    mx.eval(D.parameters(), opt_d.state, dl)

    gl, gg = g_grad(G, mx.random.normal((64, ZD)))
    opt_g.update(G, gg)
    mx.eval(G.parameters(), opt_g.state, gl)

    dl_hist.append(dl.item())
    gl_hist.append(gl.item())
    pr_hist.append(mx.mean(mx.sigmoid(D(real))).item())
    pf_hist.append(mx.mean(mx.sigmoid(D(fake))).item())
    if step % 150 == 0:
        days = generate(600, mx.random.key(77))
        tot, hrs, _ = day_stats(days)
        print(f"{step}\t{np.mean(dl_hist):.3f}\t{np.mean(gl_hist):.3f}\t{np.mean(pr_hist):.2f}\t{np.mean(pf_hist):.2f}\t"
              f"{mmd2(days, real_sub):.4f}\t{tot:.1f}\t{hrs:.1f}\t{time.time() - t0:.1f}")
        dl_hist, gl_hist, pr_hist, pf_hist = [], [], [], []
        if step % 500 == 0:
            for row in days[:2]:
                print("#  sample day: " + " ".join(f"{v:4.1f}" for v in row))

days = generate(600, mx.random.key(999))
tot, hrs, early = day_stats(days)
print()
print(f"final generator: MMD^2 {mmd2(days, real_sub):.4f}, mean total {tot:.1f} L, {hrs:.1f} h flowing, "
      f"frozen-hour leaks {100 * early:.1f}%")
