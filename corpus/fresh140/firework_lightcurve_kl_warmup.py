"""Firework shell light curves (16 photometer samples, 40 ms apart) -> small VAE.

KL weight is annealed from 0 to 1 over the first epochs, so the printed
negative ELBO climbs for a while before settling; learning rate starts at 0.
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
N_TRAIN, N_VAL, LAPS, LATENT = 3000, 600, 16, 4


def make_profiles(n):
    peak = rng.lognormal(np.log(800.0), 0.35, n)   # peak illuminance at the sensor (lux)
    rise = rng.integers(1, 4, n)                    # samples until peak
    decay = rng.uniform(0.15, 0.45, n)              # fade per sample after the peak
    crackle = rng.random(n) < 0.3                   # a second, late flash on 30% of shells
    k = np.arange(LAPS)[None, :].astype(np.float64)
    up = np.clip(k / rise[:, None], 0, 1)
    down = np.exp(-decay[:, None] * np.maximum(k - rise[:, None], 0))
    t = peak[:, None] * up * down
    t += crackle[:, None] * 0.35 * peak[:, None] * np.exp(-0.5 * ((k - 11) / 1.2) ** 2)
    t = np.log1p(t) + rng.normal(0.0, 0.05, t.shape)  # log-lux
    return t.astype(np.float32)


train_raw, val_raw = make_profiles(N_TRAIN), make_profiles(N_VAL)
mu, sd = train_raw.mean(0), train_raw.std(0)
train = mx.array((train_raw - mu) / sd)
val = mx.array((val_raw - mu) / sd)
baseline_mse = float(((val_raw - mu) / sd).var(0).mean())  # predict the mean curve


class FlashVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(LAPS, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.to_mu = nn.Linear(48, LATENT)
        self.to_logvar = nn.Linear(48, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                                 nn.Linear(48, LAPS))

    def __call__(self, x):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 4.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(z), m, lv


def terms(model, x):
    xh, m, lv = model(x)
    recon = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1))
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = FlashVAE()
EPOCHS, BS = 24, 100
steps_per_epoch = N_TRAIN // BS
warm = optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch)
cos = optim.cosine_decay(3e-3, (EPOCHS - 2) * steps_per_epoch, 2e-4)
opt = optim.Adamax(learning_rate=optim.join_schedules([warm, cos], [2 * steps_per_epoch]))

# one-off audit: every parameter we train must receive gradient
_, g0 = nn.value_and_grad(model, lambda m, x: loss_fn(m, x, 1.0)[0])(model, train[:BS])
gnorms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "n_params": len(gnorms),
                  "min": round(min(gnorms.values()), 5), "max": round(max(gnorms.values()), 3)}))

state = [model.state, opt.state, mx.random.state]


@mx.compile
def step(x, beta):
    (loss, (recon, kl)), grads = nn.value_and_grad(model, loss_fn)(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


step = mx.compile(step, inputs=state, outputs=state)

t0 = time.perf_counter()
for epoch in range(EPOCHS):
    beta = min(1.0, epoch / 8.0)          # 0 -> 1 over 8 epochs
    perm = mx.array(np.random.default_rng(epoch).permutation(N_TRAIN))
    tot = rec = kls = 0.0
    for i in range(steps_per_epoch):
        xb = train[perm[i * BS:(i + 1) * BS]]
        loss, recon, kl = step(xb, mx.array(beta))
        mx.eval(loss, recon, kl, model.parameters(), opt.state)
        tot += loss.item(); rec += recon.item(); kls += kl.item()
    vr, vk = terms(model, val)
    mx.eval(vr, vk)
    print(json.dumps({
        "epoch": epoch, "beta": round(beta, 3), "lr": round(opt.learning_rate.item(), 6),
        "train_obj": round(tot / steps_per_epoch, 4), "recon": round(rec / steps_per_epoch, 4),
        "kl_nats": round(kls / steps_per_epoch, 4),
        "val_neg_elbo": round(vr.item() + vk.item(), 4),
        "val_recon_per_sample": round(vr.item() / LAPS, 4), "mean_curve_ref": round(baseline_mse, 4),
    }))

# summary in log-lux: reconstruct val with the posterior mean
h = model.enc(val)
xh = model.dec(model.to_mu(h))
err_s = np.abs((np.array(xh) - np.array(val)) * sd).mean()
ref_s = np.abs(val_raw - mu).mean()
print(json.dumps({"summary": "val_abs_err_loglux", "vae": round(float(err_s), 4),
                  "mean_curve": round(float(ref_s), 4), "secs": round(time.perf_counter() - t0, 2)}))
