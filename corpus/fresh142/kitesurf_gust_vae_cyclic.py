"""Kitesurf bar-sensor gust traces -> small VAE, cyclical KL annealing.

Each session log is a 24-sample wind trace (knots) read off the kite bar
sensor: a mean wind, a gust oscillation of some period/amplitude/phase and
sensor noise.  We fit a 4-d latent VAE.  beta follows a cyclical schedule
(ramp 0 -> 1 over the first half of each cycle, hold at 1), so the training
objective climbs back up every time beta ramps.  Logged as JSON lines.
"""
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(142)
T = 24
N_TRAIN, N_HELD = 3000, 600


def make_traces(n):
    t = np.linspace(0.0, 1.0, T)[None, :]
    wind = rng.uniform(12, 28, (n, 1))
    period = rng.uniform(0.15, 0.5, (n, 1))
    amp = rng.uniform(0.5, 5.0, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = wind + amp * np.sin(2 * np.pi * t / period + phase)
    return x + rng.normal(0, 0.4, x.shape)


raw_tr, raw_ho = make_traces(N_TRAIN), make_traces(N_HELD)
mu_pos, sd_pos = raw_tr.mean(0), raw_tr.std(0)
x_tr = mx.array(((raw_tr - mu_pos) / sd_pos).astype(np.float32))
x_ho = mx.array(((raw_ho - mu_pos) / sd_pos).astype(np.float32))


class GustVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        return self.dec(z), mu, logvar


def parts(model, x):
    xr, mu, logvar = model(x)
    recon = 0.5 * mx.sum(mx.square(xr - x), axis=1).mean()
    kl = 0.5 * mx.sum(mx.exp(logvar) + mx.square(mu) - 1.0 - logvar, axis=1).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = GustVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (recon, kl)), grads = grad_fn(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


CYCLES, PER_CYCLE, BATCH = 4, 150, 128
baseline_recon = 0.5 * float(mx.sum(mx.square(x_ho), axis=1).mean())  # predict the per-position mean
print(json.dumps({"event": "start", "n_train": N_TRAIN, "n_heldout": N_HELD,
                  "latent": 4, "baseline_recon_mean_trace": round(baseline_recon, 3)}))

step = 0
for cycle in range(CYCLES):
    for k in range(PER_CYCLE):
        beta = min(1.0, k / (0.5 * PER_CYCLE))
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, recon, kl = train_step(x_tr[idx], mx.array(beta))
        mx.eval(loss, recon, kl, model.parameters(), opt.state)
        step += 1
        if k % 25 == 0 or k == PER_CYCLE - 1:
            print(json.dumps({"step": step, "cycle": cycle + 1, "k": k, "beta": round(beta, 3),
                              "recon": round(recon.item(), 4), "kl": round(kl.item(), 4),
                              "objective": round(loss.item(), 4)}))
    r_ho, kl_ho = parts(model, x_ho)
    mx.eval(r_ho, kl_ho)
    print(json.dumps({"event": "cycle_end", "cycle": cycle + 1,
                      "heldout_recon": round(r_ho.item(), 4), "heldout_kl": round(kl_ho.item(), 4),
                      "heldout_neg_elbo": round(r_ho.item() + kl_ho.item(), 4),
                      "baseline_recon": round(baseline_recon, 4)}))

# active latent units: variance of the posterior means over held-out traces
_, mu_ho, _ = model(x_ho)
active = int(mx.sum(mx.var(mu_ho, axis=0) > 0.01).item())
print(json.dumps({"event": "done", "steps": step, "active_units": active}))
