"""Clamp-kiln brick log: predict fired compressive strength (MPa, with its own uncertainty) and
the number of surface cracks counted on each brick, from 8 synthetic kiln/clay readings.
One trunk, three heads: strength mean, strength log-variance (fed with the trunk features held
constant, so the variance head cannot pull the mean), crack log-rate. Losses are Gaussian and
Poisson negative log-likelihoods, so the numbers printed can be below zero.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)


def firings(n):
    # clay moisture, firing temp, sand share, drying days, stack position, soak hours, wind, ash share
    x = rng.normal(size=(n, 8)).astype(np.float32)
    mean = 18 + 2.0 * x[:, 1] - 1.5 * x[:, 0] + 1.2 * np.tanh(x[:, 4]) + 0.8 * x[:, 5] - 1.0 * x[:, 2] ** 2
    noise_sd = 0.5 + 0.8 / (1 + np.exp(-2 * x[:, 1]))      # hotter firing: noisier strength
    strength = mean + noise_sd * rng.normal(size=n)
    rate = np.exp(0.6 + 0.5 * x[:, 3] - 0.4 * x[:, 7] + 0.3 * x[:, 2])
    cracks = rng.poisson(rate)
    return x, strength.astype(np.float32), cracks.astype(np.float32), noise_sd


xtr, ytr, ctr, _ = firings(8000)
xva, yva, cva, sdva = firings(2000)
xm, xs = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
xtr, xva = (xtr - xm) / xs, (xva - xm) / xs
Xtr, Ytr, Ctr = mx.array(xtr), mx.array((ytr - ym) / ys), mx.array(ctr)
Xva, Yva, Cva = mx.array(xva), mx.array((yva - ym) / ys), mx.array(cva)

# reference: the best possible Gaussian NLL (standardised units) knowing the true noise level
oracle_gnll = float(np.mean(np.log(sdva / ys) + 0.5 + 0.5 * math.log(2 * math.pi)))


class KilnNet(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(8, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU())
        self.mean_head = nn.Linear(d, 1)
        self.logvar_head = nn.Sequential(nn.Linear(d, 16), nn.SiLU(), nn.Linear(16, 1))
        self.crack_head = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.trunk(x)
        mu = self.mean_head(h).squeeze(-1)
        logvar = self.logvar_head(mx.stop_gradient(h)).squeeze(-1)
        lograte = self.crack_head(h).squeeze(-1)
        return mu, logvar, lograte


def heads_loss(model, x, y, c):
    mu, logvar, lograte = model(x)
    gnll = nn.losses.gaussian_nll_loss(mu, y, mx.exp(logvar), full=True, reduction="mean")
    pnll = mx.mean(mx.exp(lograte) - c * lograte)        # Poisson NLL without log(c!)
    return gnll + pnll, (gnll, pnll)


model = KilnNet()
mx.eval(model.parameters())
sched = optim.step_decay(2e-3, 0.5, 500)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, heads_loss)


def evaluate():
    mu, logvar, lograte = model(Xva)
    tot, (g, p) = heads_loss(model, Xva, Yva, Cva)
    rmse = mx.sqrt(mx.mean((mu - Yva) ** 2)).item() * ys
    mae_crack = mx.mean(mx.abs(mx.exp(lograte) - Cva)).item()
    return tot.item(), g.item(), p.item(), rmse, mae_crack


# Poisson NLL of a constant rate = mean count (without log(c!)), the "no features" reference
cbar = float(ctr.mean())
const_pnll = float(np.mean(cbar - cva * math.log(cbar)))
print(f"reference | oracle_gauss_nll={oracle_gnll:.4f} const_poisson_nll={const_pnll:.4f} "
      f"strength_sd={ys:.2f} MPa")
t0 = time.time()
STEPS, BATCH = 2000, 200
for step in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, len(xtr), BATCH))
    (tot, (g, p)), grads = vg(model, Xtr[idx], Ytr[idx], Ctr[idx])
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, tot, gnorm)
    if step in (1, 10, 50) or step % 250 == 0:
        vt, vg_, vp, rmse, mae = evaluate()
        print(f"step={step:5d} | lr={opt.learning_rate.item():.1e} | train total={tot.item():+.4f} "
              f"gauss={g.item():+.4f} poisson={p.item():+.4f} | val total={vt:+.4f} gauss={vg_:+.4f} "
              f"poisson={vp:+.4f} | strength_rmse={rmse:.2f} MPa crack_mae={mae:.2f} | "
              f"gnorm={gnorm.item():.3f}")

vt, vg_, vp, rmse, mae = evaluate()
mu, logvar, _ = model(Xva)
pred_sd = np.sqrt(np.exp(np.array(logvar))) * ys
corr = float(np.corrcoef(pred_sd, sdva)[0, 1])
print(f"final | val gauss_nll={vg_:+.4f} (oracle {oracle_gnll:+.4f}) poisson_nll={vp:+.4f} "
      f"(constant {const_pnll:+.4f}) | strength_rmse={rmse:.2f} MPa | "
      f"predicted-vs-true noise sd corr={corr:.3f} | {time.time() - t0:.1f}s")
