"""Glacier-fed stream: a tiny VAE of daily meltwater hydrographs (16 hourly
discharge readings per day, standardised), trained with KL annealing.

The decoder is Gaussian with a learned per-hour log-variance, so the
reconstruction term is a continuous NLL and the negative ELBO drops below 0.
The KL weight beta is 0 for the first FREE steps (plain autoencoding, the
KL term is allowed to grow) and then ramps linearly to 1 over RAMP steps, so
the reported objective rises during the ramp, then falls again.
"""
import csv
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

HOURS = 16
LATENT = 3
FREE = 300
RAMP = 300
STEPS = 3000
BATCH = 128
REPORT = 150


def make_days(n, rng):
    # latent drivers: air temperature, cloudiness, snowpack -> diurnal melt pulse
    temp = rng.normal(0, 1, n)
    cloud = rng.uniform(0, 1, n)
    snow = rng.gamma(2.0, 0.5, n)
    t = np.arange(HOURS) / HOURS
    peak = 0.55 + 0.1 * cloud[:, None] - 0.05 * temp[:, None]
    amp = np.exp(0.4 * temp)[:, None] * (1.2 - cloud[:, None]) * np.sqrt(snow)[:, None]
    base = 0.5 + 0.3 * snow[:, None]
    q = base + amp * np.exp(-((t[None, :] - peak) ** 2) / 0.02)
    q = q + rng.normal(0, 0.05, q.shape)
    return q.astype(np.float32)


class HydroVAE(nn.Module):
    def __init__(self, d=HOURS, h=48, z=LATENT):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, d))
        self.out_logvar = mx.zeros((d,))

    def __call__(self, x):
        e = self.enc(x)
        mu, lv = self.mu(e), mx.clip(self.logvar(e), -8.0, 4.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def elbo_parts(model, x):
    xh, mu, lv = model(x)
    olv = mx.clip(model.out_logvar, -6.0, 3.0)
    nll = 0.5 * (((x - xh) ** 2) * mx.exp(-olv) + olv + np.log(2 * np.pi)).sum(-1)
    kl = -0.5 * (1 + lv - mu ** 2 - mx.exp(lv)).sum(-1)
    return nll.mean(), kl.mean()


def loss_fn(model, x, beta):
    nll, kl = elbo_parts(model, x)
    return nll + beta * kl, (nll, kl)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    raw_tr, raw_va = make_days(12000, rng), make_days(2000, rng)
    m, s = raw_tr.mean(0), raw_tr.std(0)
    xtr = mx.array((raw_tr - m) / s)
    xva = mx.array((raw_va - m) / s)

    model = HydroVAE()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, loss_fn)

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["step", "beta", "objective", "recon_nll_nats", "kl_nats", "val_neg_elbo", "val_rmse_std", "sec"])

    t0 = time.time()
    acc = np.zeros(3)
    n_acc = 0
    for step in range(1, STEPS + 1):
        beta = min(1.0, max(0.0, (step - 1 - FREE) / RAMP))
        idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
        (obj, (nll, kl)), grads = vg(model, xtr[idx], beta)
        if step == 1:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"# first step: {len(leaves)} gradient arrays, all-zero: {zero or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, nll, kl)
        acc += [obj.item(), nll.item(), kl.item()]
        n_acc += 1
        if step % REPORT == 0 or step == 1:
            vnll, vkl = elbo_parts(model, xva)
            xh, _, _ = model(xva)
            rmse = mx.sqrt(mx.mean((xh - xva) ** 2))
            a = acc / n_acc
            out.writerow([step, f"{beta:.3f}", f"{a[0]:.4f}", f"{a[1]:.4f}", f"{a[2]:.4f}",
                          f"{(vnll + vkl).item():.4f}", f"{rmse.item():.4f}", f"{time.time() - t0:.1f}"])
            sys.stdout.flush()
            acc[:] = 0
            n_acc = 0
    print(f"# done: learned decoder sd (std units) median {float(np.median(np.exp(0.5 * np.array(model.out_logvar)))):.3f}")


if __name__ == "__main__":
    main()
