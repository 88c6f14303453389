# Pumping-test drawdown curves -> small beta-VAE.
# Each well test gives 24 drawdown readings (m) on a log-time axis, made with
# the Cooper-Jacob approximation s = Q/(4 pi T) * ln(2.25 T t / (r^2 S)).
# KL weight is annealed 0 -> 1 over two cycles (cyclical annealing), so the
# total objective climbs while beta rises; the step is mx.compile'd.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_WELLS, N_T, LATENT = 768, 24, 3
t_min = np.logspace(0, 3, N_T)                   # minutes after pump start


def drawdown_curves(n):
    logT = rng.uniform(math.log(5.0), math.log(500.0), n)      # transmissivity m^2/day
    logS = rng.uniform(math.log(1e-5), math.log(1e-2), n)      # storativity
    Q = rng.uniform(200.0, 1500.0, n)                          # m^3/day
    r = rng.uniform(5.0, 60.0, n)                              # observation well distance m
    T, S = np.exp(logT), np.exp(logS)
    t_day = t_min[None, :] / 1440.0
    arg = 2.25 * T[:, None] * t_day / (r[:, None] ** 2 * S[:, None])
    s = Q[:, None] / (4 * math.pi * T[:, None]) * np.log(np.maximum(arg, 1.0001))
    s = s + rng.normal(0, 0.01, s.shape)
    return np.log1p(np.maximum(s, 0.0)).astype(np.float32)


data = drawdown_curves(N_WELLS)
mu, sd = data.mean(0), data.std(0) + 1e-6
X = mx.array((data - mu) / sd)
X_tr, X_te = X[:640], X[640:]


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_T, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU())
        self.mu = nn.Linear(32, LATENT)
        self.logvar = nn.Linear(32, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 32), nn.GELU(), nn.Linear(32, 64), nn.GELU(),
                                 nn.Linear(64, N_T))

    def __call__(self, x, key):
        h = self.enc(x)
        m, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(z), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    rec = mx.sum(mx.square(xh - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mx.square(m) - mx.exp(lv), axis=1)).mean()
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


model = VAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, key, beta):
    (loss, (rec, kl)), grads = nn.value_and_grad(model, objective)(model, x, key, beta)
    opt.update(model, grads)
    return loss, rec, kl


# one-off gradient coverage check before training
_, g0 = nn.value_and_grad(model, objective)(model, X_tr[:64], mx.random.key(0), mx.array(1.0))
flat = [v for _, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g0)]
print(json.dumps({"event": "grad_check", "tensors": len(flat),
                  "zero_tensors": sum(1 for v in flat if mx.abs(v).max().item() == 0.0)}))

EPOCHS, BATCH, CYCLE = 120, 64, 40
steps_per_epoch = X_tr.shape[0] // BATCH
key = mx.random.key(3)
t0 = time.perf_counter()
gstep = 0
for epoch in range(EPOCHS):
    perm = mx.random.permutation(X_tr.shape[0])
    acc = np.zeros(3)
    for b in range(steps_per_epoch):
        pos = (gstep % (CYCLE * steps_per_epoch)) / (CYCLE * steps_per_epoch)
        beta = min(1.0, pos / 0.5)                  # ramp over first half of each cycle
        key, sub = mx.random.split(key)
        loss, rec, kl = train_step(X_tr[perm[b * BATCH:(b + 1) * BATCH]], sub, mx.array(beta))
        mx.eval(loss, rec, kl, model.parameters(), opt.state)
        acc += [loss.item(), rec.item(), kl.item()]
        gstep += 1
    if epoch % 8 == 7 or epoch == 0:
        rec_te, kl_te = terms(model, X_te, mx.random.key(99))
        acc /= steps_per_epoch
        print(json.dumps({"epoch": epoch + 1, "beta": round(beta, 3), "neg_elbo_w": round(acc[0], 3),
                          "recon": round(acc[1], 3), "kl_nats": round(acc[2], 3),
                          "test_recon": round(rec_te.item(), 3), "test_kl": round(kl_te.item(), 3),
                          "baseline_recon_zero_pred": float(N_T)}))

rec_te, kl_te = terms(model, X_te, mx.random.key(99))
m_te = model.mu(model.enc(X_te))
active = int((mx.var(m_te, axis=0) > 0.01).sum().item())
print(json.dumps({"event": "done", "seconds": round(time.perf_counter() - t0, 2),
                  "test_neg_elbo": round((rec_te + kl_te).item(), 3),
                  "test_recon_per_point": round(rec_te.item() / N_T, 4),
                  "active_latents": active, "latents": LATENT}))
