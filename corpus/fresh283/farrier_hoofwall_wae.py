"""Farrier clinic: Wasserstein autoencoder (MMD penalty) over hoof-wall profiles.

Each trimmed hoof is measured at 16 points from toe to heel (wall thickness, mm).
Two hidden causes (hoof size, heel collapse) plus growth-ring ripple and gauge noise.
Deterministic encoder to a 2-d code, MMD with an inverse multiquadric kernel pulls
the codes toward a standard normal prior. Learning rate follows warm restarts.
Reports only at the end of each restart cycle.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(2024)
D, Z, BATCH = 16, 2, 128
NOISE_SD = 0.35


def make_hooves(n):
    pos = np.linspace(0, 1, D)
    size = rng.normal(0, 1, (n, 1))
    collapse = rng.beta(2, 5, (n, 1)) * 2 - 0.5
    wall = 9 + 1.3 * size - 2.2 * collapse * pos ** 2 + 0.4 * np.sin(9 * pos + size)
    return wall + NOISE_SD * rng.standard_normal((n, D))


raw_train, raw_val = make_hooves(6000), make_hooves(1000)
mu, sd = raw_train.mean(0), raw_train.std(0)
train_x = mx.array(((raw_train - mu) / sd).astype(np.float32))
val_x = mx.array(((raw_val - mu) / sd).astype(np.float32))
noise_floor = float(np.mean((NOISE_SD / sd) ** 2))  # gauge noise variance per standardised dim


class HoofWAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, Z))
        self.decoder = nn.Sequential(nn.Linear(Z, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, D))

    def __call__(self, x):
        z = self.encoder(x)
        return self.decoder(z), z


def imq_mmd(z, p):
    # unbiased MMD^2 estimate; can be slightly negative when the two samples match
    n = z.shape[0]
    total = 0.0
    off = 1.0 - mx.eye(n)
    for scale in (0.2, 0.5, 1.0, 2.0, 5.0):
        c = 2.0 * Z * scale

        def k(a, b):
            d2 = mx.sum(a ** 2, 1)[:, None] + mx.sum(b ** 2, 1)[None, :] - 2 * a @ b.T
            return c / (c + d2)

        total = total + mx.sum(k(z, z) * off) / (n * (n - 1)) + mx.sum(k(p, p) * off) / (n * (n - 1)) \
            - 2 * mx.mean(k(z, p))
    return total


LAM = 10.0


def loss_fn(model, x, prior):
    xr, z = model(x)
    rec = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    mmd = imq_mmd(z, prior)
    return rec + LAM * mmd, (rec, mmd)


CYCLES = [150, 300, 600, 900]
LR_MAX, LR_MIN = 3e-3, 1e-5


def lr_at(step):
    start = 0
    for c in CYCLES:
        if step < start + c:
            t = (step - start) / c
            return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))
        start += c
    return LR_MIN


mx.random.seed(3)
model = HoofWAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=LR_MAX)
grad_fn = nn.value_and_grad(model, loss_fn)

print("#\tdata\ttrain=6000\tval=1000\tdims=16\tcode=2")
print(f"#\tgauge_noise_var_per_dim\t{noise_floor:.4f}")
print("cycle\tsteps_in_cycle\tlr_start\tlr_end\tobjective\trecon_sum\tmmd\tval_mse_per_dim\tval_mmd\tcode_mean_norm\tsecs")

t0 = time.time()
step, order, cur = 0, rng.permutation(6000), 0
val_prior = mx.random.normal((1000, Z), key=mx.random.key(99))
for ci, clen in enumerate(CYCLES, start=1):
    acc = []
    lr_first = lr_at(step)
    for _ in range(clen):
        if cur + BATCH > 6000:
            order, cur = rng.permutation(6000), 0
        xb = train_x[mx.array(order[cur:cur + BATCH])]
        cur += BATCH
        opt.learning_rate = lr_at(step)
        prior = mx.random.normal((BATCH, Z))
        (loss, (rec, mmd)), grads = grad_fn(model, xb, prior)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, mmd)
        acc.append((loss.item(), rec.item(), mmd.item()))
        step += 1
    a = np.array(acc[-50:])
    xr, z = model(val_x)
    vmse = mx.mean((xr - val_x) ** 2).item()
    vmmd = imq_mmd(z[:500], val_prior[:500]).item()
    print(f"{ci}\t{clen}\t{lr_first:.2e}\t{lr_at(step - 1):.2e}\t{a[:, 0].mean():.4f}\t{a[:, 1].mean():.4f}\t"
          f"{a[:, 2].mean():+.5f}\t{vmse:.4f}\t{vmmd:+.5f}\t{mx.mean(mx.linalg.norm(z, axis=1)).item():.3f}\t"
          f"{time.time() - t0:.1f}")

print(f"#\tdone\tsteps={step}\tval_mse_per_dim={vmse:.4f}\tgauge_noise_var={noise_floor:.4f}")
