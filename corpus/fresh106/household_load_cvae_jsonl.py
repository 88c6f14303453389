"""Conditional VAE of household daily electricity load profiles.

24 hourly readings (kWh) per day, conditioned on the weekday and the day's mean
outdoor temperature.  The weekday goes through a fixed sin/cos lookup table
(an nn.Embedding whose rows are set by hand and frozen on purpose).  The
decoder has a learned per-hour log-variance, so the Gaussian NLL - and the
negative ELBO we minimise - goes below zero once the fit is good.
Reports are JSON lines.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

H, LATENT = 24, 3
rng = np.random.default_rng(2024)


def simulate(n):
    wd = rng.integers(0, 7, n)
    temp = rng.normal(12, 8, n)
    hours = np.arange(H)
    weekend = (wd >= 5).astype(float)[:, None]
    occupants = rng.uniform(0.6, 1.6, n)[:, None]
    morning = np.exp(-0.5 * ((hours - (7 + 2 * weekend)) / 1.2) ** 2)
    evening = np.exp(-0.5 * ((hours - rng.normal(19, 0.8, n)[:, None]) / 1.8) ** 2)
    midday = weekend * np.exp(-0.5 * ((hours - 13) / 2.5) ** 2)
    heat = np.clip(15 - temp, 0, None)[:, None] * 0.04 * (1 + 0.5 * evening)
    cool = np.clip(temp - 22, 0, None)[:, None] * 0.05 * np.exp(-0.5 * ((hours - 16) / 3) ** 2)
    base = 0.25 + 0.6 * morning + 1.1 * evening + 0.5 * midday
    load = occupants * base + heat + cool + rng.normal(0, 0.05, (n, H))
    return load.astype(np.float32), wd.astype(np.int32), temp.astype(np.float32)


class LoadCVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.weekday = nn.Embedding(7, 4)
        ang = 2 * math.pi * np.arange(7) / 7
        table = np.stack([np.sin(ang), np.cos(ang), (np.arange(7) >= 5) * 1.0,
                          (np.arange(7) == 4) * 1.0], axis=1).astype(np.float32)
        self.weekday.weight = mx.array(table)
        self.enc = nn.Sequential(nn.Linear(H + 5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT + 5, 64), nn.SiLU(), nn.Linear(64, 64),
                                 nn.SiLU(), nn.Linear(64, H))
        self.out_logvar = mx.full((H,), -1.0)

    def cond(self, wd, temp):
        return mx.concatenate([self.weekday(wd), temp[:, None]], axis=1)

    def neg_elbo(self, x, wd, temp, eps):
        c = self.cond(wd, temp)
        h = self.enc(mx.concatenate([x, c], axis=1))
        mu, lv = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * lv) * eps
        xm = self.dec(mx.concatenate([z, c], axis=1))
        nll = 0.5 * (((x - xm) ** 2) * mx.exp(-self.out_logvar) + self.out_logvar
                     + math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mx.exp(lv) + mu ** 2 - 1 - lv).sum(1)
        return (nll + kl).mean(), (nll.mean(), kl.mean())

    def generate(self, wd, temp, z):
        return self.dec(mx.concatenate([z, self.cond(wd, temp)], axis=1))


def log(rec):
    print(json.dumps(rec), flush=True)


load, wd, temp = simulate(9000)
mean_x, sd_x = load.mean(0), load.std(0)
x_all = (load - mean_x) / sd_x
t_all = (temp - 12) / 8
n_tr = 7500
xtr, wtr, ttr = x_all[:n_tr], wd[:n_tr], t_all[:n_tr]
xte, wte, tte = x_all[n_tr:], wd[n_tr:], t_all[n_tr:]
log({"event": "data", "train_days": n_tr, "test_days": len(xte), "hours": H,
     "mean_daily_kwh": round(float(load.sum(1).mean()), 2)})

mx.random.seed(3)
model = LoadCVAE()
model.weekday.freeze()
mx.eval(model.parameters())
frozen_before = np.array(model.weekday.weight)

opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, 3000, end=1e-4), weight_decay=1e-4)


def loss_fn(m, x, w, t, eps):
    return m.neg_elbo(x, w, t, eps)


value_and_grad = nn.value_and_grad(model, loss_fn)

# audit the gradients once, eagerly, before anything is compiled
xb, wb, tb = mx.array(xtr[:128]), mx.array(wtr[:128]), mx.array(ttr[:128])
(l0, _), g0 = value_and_grad(model, xb, wb, tb, mx.random.normal((128, LATENT)))
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
log({"event": "grad_check", "trainable_leaves": len(leaves), "zero_leaves": zero,
     "weekday_table_in_grads": any(k.startswith("weekday") for k, _ in leaves),
     "neg_elbo_untrained": round(l0.item(), 3)})

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, w, t, eps):
    (loss, (nll, kl)), grads = value_and_grad(model, x, w, t, eps)
    opt.update(model, grads)
    return loss, nll, kl


def test_metrics():
    x, w, t = mx.array(xte), mx.array(wte), mx.array(tte)
    eps = mx.random.normal((len(xte), LATENT))
    ne, (nll, kl) = model.neg_elbo(x, w, t, eps)
    # prior samples: mean generated daily kWh per weekday vs the data
    z = mx.random.normal((len(xte), LATENT))
    gen = np.array(model.generate(w, t, z)) * sd_x + mean_x
    real = xte * sd_x + mean_x
    day_err = [abs(gen[wte == d].sum(1).mean() - real[wte == d].sum(1).mean()) for d in range(7)]
    return ne.item(), nll.item(), kl.item(), float(np.mean(day_err))


BATCH, STEPS, EVERY = 128, 3000, 300
xtr_m, wtr_m, ttr_m = mx.array(xtr), mx.array(wtr), mx.array(ttr)
cursor, perm = 0, rng.permutation(n_tr)
window = []
t0 = time.time()
for step in range(1, STEPS + 1):
    if cursor + BATCH > n_tr:
        perm, cursor = rng.permutation(n_tr), 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    eps = mx.random.normal((BATCH, LATENT))
    loss, nll, kl = train_step(xtr_m[idx], wtr_m[idx], ttr_m[idx], eps)
    mx.eval(loss, nll, kl, state)
    window.append((loss.item(), nll.item(), kl.item()))
    if step == 1 or step % EVERY == 0:
        w = np.array(window)
        ne, tn, tk, derr = test_metrics()
        log({"event": "report", "step": step, "lr": round(float(opt.learning_rate.item()), 6),
             "train_neg_elbo": round(float(w[:, 0].mean()), 3),
             "train_recon_nll": round(float(w[:, 1].mean()), 3),
             "train_kl": round(float(w[:, 2].mean()), 3),
             "test_neg_elbo": round(ne, 3), "test_kl": round(tk, 3),
             "weekday_daily_kwh_gap": round(derr, 3), "secs": round(time.time() - t0, 1)})
        window = []

drift = float(np.abs(np.array(model.weekday.weight) - frozen_before).max())
log({"event": "done", "weekday_table_max_change": drift,
     "decoder_sigma_kwh_mean": round(float((np.exp(0.5 * np.array(model.out_logvar)) * sd_x).mean()), 4)})
