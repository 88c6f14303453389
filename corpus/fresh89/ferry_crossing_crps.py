"""Probabilistic forecast of ferry crossing times, trained on the Gaussian CRPS.

Each crossing gets a predicted mean and spread (minutes).  We score with the
continuous ranked probability score (lower is better, in minutes) and check the
central 80% interval's coverage on a large held-out set after every epoch.
The learning rate warms up from exactly 0, then decays on a cosine.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
N_TRAIN, N_TEST = 12_000, 40_000
BATCH = 128
EPOCHS = 12
PEAK_LR = 2e-3
WARMUP = 150
Z80 = 1.2815516  # standard-normal 90th percentile


def simulate(rng, n):
    wind = rng.gamma(2.0, 4.0, n)                     # knots
    wdir = rng.uniform(0, 2 * np.pi, n)
    tide = rng.uniform(0, 2 * np.pi, n)
    load = rng.integers(5, 120, n).astype(np.float64)  # vehicles aboard
    fog = (rng.random(n) < 0.12).astype(np.float64)
    hour = rng.uniform(6, 22, n)
    head = np.cos(wdir)                                # +1 = straight headwind
    mean = (22.0 + 0.18 * wind * head + 0.03 * wind + 1.6 * np.sin(tide)
            + 0.02 * load + 3.0 * fog + 0.8 * np.sin(2 * np.pi * hour / 24))
    sd = 0.5 + 0.07 * wind + 1.8 * fog
    y = mean + sd * rng.standard_normal(n)
    X = np.stack([wind, np.sin(wdir), np.cos(wdir), np.sin(tide), np.cos(tide),
                  load, fog, np.sin(2 * np.pi * hour / 24)], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


class Forecaster(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.mu = nn.Linear(width, 1)
        self.raw_sd = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h)[:, 0], nn.softplus(self.raw_sd(h)[:, 0]) + 1e-3


def gaussian_crps(mu, sd, y):
    z = (y - mu) / sd
    pdf = mx.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + mx.erf(z / math.sqrt(2)))
    return sd * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))


def loss_fn(model, x, y):
    mu, sd = model(x)
    return gaussian_crps(mu, sd, y).mean()


def evaluate(model, X, y, y_scale, chunk=8192):
    crps_sum, inside, abs_err = 0.0, 0, 0.0
    for i in range(0, X.shape[0], chunk):
        xb, yb = X[i:i + chunk], y[i:i + chunk]
        mu, sd = model(xb)
        c = gaussian_crps(mu, sd, yb)
        hit = mx.abs(yb - mu) <= Z80 * sd
        mx.eval(c, hit, mu)
        crps_sum += float(c.sum())
        inside += int(hit.sum())
        abs_err += float(mx.abs(yb - mu).sum())
    n = X.shape[0]
    return crps_sum / n * y_scale, 100.0 * inside / n, abs_err / n * y_scale


def main():
    mx.random.seed(SEED)
    rng = np.random.default_rng(SEED)
    Xtr, ytr = simulate(rng, N_TRAIN)
    Xte, yte = simulate(rng, N_TEST)
    x_mu, x_sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    Xtr_m = mx.array((Xtr - x_mu) / x_sd)
    ytr_m = mx.array((ytr - y_mu) / y_sd)
    Xte_m = mx.array((Xte - x_mu) / x_sd)
    yte_m = mx.array((yte - y_mu) / y_sd)

    # climatology reference: one Gaussian for every crossing
    clim = gaussian_crps(mx.zeros(N_TEST), mx.ones(N_TEST), yte_m).mean().item() * y_sd
    print({"reference": "climatology", "crps_min": round(clim, 4)})

    model = Forecaster(Xtr.shape[1])
    mx.eval(model.parameters())
    steps_per_epoch = N_TRAIN // BATCH
    total = EPOCHS * steps_per_epoch
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, total - WARMUP, 1e-5)],
        [WARMUP])
    opt = optim.Adam(learning_rate=schedule)
    step_fn = nn.value_and_grad(model, loss_fn)

    # every leaf must receive gradient at the first step
    _, g0 = step_fn(model, Xtr_m[:BATCH], ytr_m[:BATCH])
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead

    crps0, cov0, mae0 = evaluate(model, Xte_m, yte_m, y_sd)
    print({"epoch": 0, "lr": 0.0, "train_crps": None, "test_crps_min": round(crps0, 4),
           "cover80_pct": round(cov0, 1), "mae_min": round(mae0, 3)})

    t0 = time.perf_counter()
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(N_TRAIN)[: steps_per_epoch * BATCH])
        running = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running += loss.item()
        lr_now = opt.learning_rate.item()
        crps, cov, mae = evaluate(model, Xte_m, yte_m, y_sd)
        print({"epoch": epoch, "lr": float(f"{lr_now:.3g}"),
               "train_crps": round(running / steps_per_epoch * y_sd, 4),
               "test_crps_min": round(crps, 4), "cover80_pct": round(cov, 1),
               "mae_min": round(mae, 3), "secs": round(time.perf_counter() - t0, 1)})
    print({"done": True, "skill_vs_climatology_pct": round(100 * (1 - crps / clim), 1)})


if __name__ == "__main__":
    main()
