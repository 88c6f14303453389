"""Sugarbush sap-flow profiles: a small VAE over 24-hour tap flow curves.

Each tap-day is 24 hourly sap-flow readings (ml/h per tap).  Flow depends on the
overnight low (freeze) and the daytime high (thaw): a warm, freezing night gives a
strong late-morning run, a mild night gives a weak flat one.  We fit a VAE with a
*cyclical* KL weight (beta goes 0 -> 1 three times) so the latent code gets used.
Logged as one JSON object per epoch.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
HOURS = np.arange(24, dtype=np.float32)


def make_days(n):
    low = rng.uniform(-9.0, 1.0, n)     # overnight min, deg C
    high = rng.uniform(1.0, 12.0, n)    # daytime max, deg C
    vigor = rng.lognormal(0.0, 0.25, n)  # tree / tap vigour
    freeze = np.clip(-low, 0.0, None) / 9.0
    thaw = np.clip(high - 1.0, 0.0, None) / 11.0
    peak_amp = 320.0 * vigor * (0.15 + freeze) * (0.2 + thaw)
    peak_hour = 10.0 + 4.0 * (1.0 - thaw) + rng.normal(0, 0.6, n)
    width = 2.0 + 2.5 * thaw
    base = 8.0 + 6.0 * vigor
    t = HOURS[None, :]
    flow = base[:, None] + peak_amp[:, None] * np.exp(
        -0.5 * ((t - peak_hour[:, None]) / width[:, None]) ** 2)
    flow += rng.normal(0, 6.0, flow.shape)
    return np.clip(flow, 0.0, None).astype(np.float32)


train_np = make_days(1400)
val_np = make_days(300)
mu_np = train_np.mean(0, keepdims=True)
sd_np = train_np.std(0, keepdims=True) + 1e-3
x_train = mx.array((train_np - mu_np) / sd_np)
x_val = mx.array((val_np - mu_np) / sd_np)
sd = mx.array(sd_np)
mean_rmse = float(np.sqrt(((val_np - mu_np) ** 2).mean()))  # predict the mean profile


class SapVAE(nn.Module):
    def __init__(self, d_in=24, hidden=64, latent=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU())
        self.to_mu = nn.Linear(hidden, latent)
        self.to_logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, d_in))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if sample:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        else:
            z = mu
        return self.dec(z), mu, logvar


def terms(model, x):
    xhat, mu, logvar = model(x)
    recon = mx.mean(mx.sum(mx.square(xhat - x), axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=1))
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(11)
model = SapVAE()
mx.eval(model.parameters())

BATCH = 70
STEPS_PER_EPOCH = x_train.shape[0] // BATCH
CYCLES, EPOCHS_PER_CYCLE = 3, 8
warm = optim.linear_schedule(0.0, 3e-3, 150)  # starts from exactly 0
lr_sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, CYCLES * EPOCHS_PER_CYCLE * STEPS_PER_EPOCH, 3e-4)], [150])
opt = optim.Adamax(learning_rate=lr_sched)
vg = nn.value_and_grad(model, loss_fn)

# one-off audit: every parameter should receive gradient at beta=1
(_, _), g0 = vg(model, x_train[:BATCH], mx.array(1.0))
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"audit": "grad_nonzero", "params": len(tree_flatten(g0)), "zero_grad": zero}))

t0 = time.time()
global_step = 0
for cycle in range(1, CYCLES + 1):
    for ep in range(1, EPOCHS_PER_CYCLE + 1):
        # beta ramps linearly over the first half of the cycle, then holds at 1
        frac = (ep - 1) / (EPOCHS_PER_CYCLE / 2)
        beta = min(1.0, frac)
        perm = mx.array(rng.permutation(x_train.shape[0]))
        tot = rec = kls = 0.0
        for s in range(STEPS_PER_EPOCH):
            xb = x_train[perm[s * BATCH:(s + 1) * BATCH]]
            (loss, (recon, kl)), grads = vg(model, xb, mx.array(beta))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, recon, kl)
            tot += loss.item(); rec += recon.item(); kls += kl.item()
            global_step += 1
        xhat, _, _ = model(x_val, sample=False)
        val_rmse = mx.sqrt(mx.mean(mx.square((xhat - x_val) * sd))).item()
        vr, vk = terms(model, x_val)
        print(json.dumps({
            "cycle": cycle, "ep": ep, "step": global_step,
            "beta": round(beta, 3), "lr": float(f"{opt.learning_rate.item():.3e}"),
            "recon": round(rec / STEPS_PER_EPOCH, 4), "kl": round(kls / STEPS_PER_EPOCH, 4),
            "neg_elbo": round(tot / STEPS_PER_EPOCH, 4),
            "val_recon": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
            "val_rmse_ml_h": round(val_rmse, 2), "mean_profile_rmse_ml_h": round(mean_rmse, 2),
        }))

print(json.dumps({"done": True, "seconds": round(time.time() - t0, 2),
                  "final_val_rmse_ml_h": round(val_rmse, 2),
                  "vs_mean_profile_pct": round(100.0 * val_rmse / mean_rmse, 1)}))
