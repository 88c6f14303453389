# Batch-freezer torque traces: a small beta-VAE that learns a latent "mix recipe" space.
# Each trace is the dasher-motor torque sampled 24 times while a batch of ice-cream mix
# churns and freezes.  Torque rises as ice crystals form; where and how steeply depends on
# fat %, sugar %, overrun target and brine temperature.  KL weight is annealed 0 -> 1 over
# the first epochs, so the total objective goes UP for a while on purpose.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2031)
T = 24


def make_traces(n):
    fat = rng.uniform(6.0, 16.0, n)          # %
    sugar = rng.uniform(12.0, 20.0, n)       # %
    overrun = rng.uniform(20.0, 100.0, n)    # %
    brine = rng.uniform(-30.0, -18.0, n)     # deg C
    t = np.linspace(0.0, 1.0, T)[None, :]
    onset = 0.25 + 0.02 * (sugar[:, None] - 16.0) + 0.01 * (brine[:, None] + 24.0)
    steep = 8.0 + 0.6 * (fat[:, None] - 11.0)
    plateau = 1.0 + 0.05 * (fat[:, None] - 11.0) - 0.004 * (overrun[:, None] - 60.0)
    torque = 0.3 + plateau / (1.0 + np.exp(-steep * (t - onset)))
    torque = torque + 0.05 * rng.standard_normal((n, T))
    return torque.astype(np.float32)


train = make_traces(3000)
valid = make_traces(600)
mu, sd = train.mean(0), train.std(0) + 1e-6
train_n = mx.array((train - mu) / sd)
valid_n = mx.array((valid - mu) / sd)


class TraceVAE(nn.Module):
    def __init__(self, d=T, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, d))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape) if sample else m
        return self.dec(z), m, lv


def parts(model, x, sample=True):
    xr, m, lv = model(x, sample)
    recon = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + lv - m * m - mx.exp(lv), axis=1))
    return recon, kl


def objective(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = TraceVAE()
opt = optim.Adam(learning_rate=2e-3)
state = [model.state, opt.state, mx.random.state]
grad_fn = nn.value_and_grad(model, objective)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (recon, kl)), grads = grad_fn(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


baseline_recon = float(mx.mean(mx.sum(valid_n ** 2, axis=1)))  # "predict the mean trace"
EPOCHS, BS, ANNEAL = 24, 100, 8
n = train_n.shape[0]
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(n))
    tot = rec = kls = 0.0
    nb = 0
    for i in range(0, n, BS):
        step_no = (epoch - 1) * (n // BS) + i // BS
        beta = min(1.0, step_no / (ANNEAL * (n // BS)))
        xb = train_n[perm[i:i + BS]]
        loss, recon, kl = train_step(xb, mx.array(beta))
        mx.eval(state, loss, recon, kl)
        tot += loss.item(); rec += recon.item(); kls += kl.item(); nb += 1
    model.eval()
    v_rec, v_kl = parts(model, valid_n, sample=False)
    mx.eval(v_rec, v_kl)
    model.train()
    print(json.dumps({
        "epoch": epoch,
        "beta": round(beta, 3),
        "objective": round(tot / nb, 4),
        "recon": round(rec / nb, 4),
        "kl_nats": round(kls / nb, 4),
        "val_recon": round(v_rec.item(), 4),
        "val_recon_mean_trace": round(baseline_recon, 4),
        "val_elbo_bound": round(v_rec.item() + v_kl.item(), 4),
        "sec": round(time.time() - t0, 2),
    }))

# latent audit: does the code carry the recipe?  correlate latent means with sugar-onset proxy
xr, m, lv = model(valid_n, sample=False)
m_np = np.array(m)
active = int((np.array(mx.mean(mx.exp(lv), axis=0)) < 0.5).sum())
print(json.dumps({"summary": "done", "active_latents": active, "latent_std": [round(float(s), 3) for s in m_np.std(0)],
                  "val_recon_ratio_vs_mean_trace": round(float(mx.mean(mx.sum((xr - valid_n) ** 2, axis=1))) / baseline_recon, 4)}))
