"""Snowboard halfpipe judging notes: compress a run's air-height profile with a
beta-VAE.  Cyclical KL annealing (beta 0 -> 1 over the first half of every cycle),
compiled train step, Adamax.  One JSON object per report line."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(191)
T = 24  # samples along the run (5 walls, 24 readings of air height in metres)


def make_runs(n):
    power = rng.normal(0.0, 1.0, n)      # amplitude of the rider
    fatigue = rng.normal(0.0, 1.0, n)    # how much height drops wall after wall
    style = rng.uniform(-1.0, 1.0, n)    # early or late pop on each wall
    t = np.linspace(0.0, 1.0, T)[None, :]
    base = 3.2 + 0.9 * power[:, None]
    decay = 1.0 - (0.25 + 0.12 * fatigue[:, None]) * t
    phase = 5.0 * 2 * np.pi * t + 0.6 * style[:, None]
    h = base * decay * (0.55 + 0.45 * np.abs(np.sin(phase)))
    h = h + rng.normal(0.0, 0.12, h.shape)
    return h.astype(np.float32)


train_np = make_runs(4096)
test_np = make_runs(1024)
mu, sd = train_np.mean(0), train_np.std(0) + 1e-6
train_x = mx.array((train_np - mu) / sd)
test_x = mx.array((test_np - mu) / sd)


class RunVAE(nn.Module):
    def __init__(self, d=T, h=64, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def __call__(self, x, eps):
        e = self.enc(x)
        m, lv = self.to_mu(e), mx.clip(self.to_logvar(e), -8.0, 6.0)
        z = m + mx.exp(0.5 * lv) * eps
        return self.dec(z), m, lv


def terms(model, x, eps):
    xhat, m, lv = model(x, eps)
    recon = mx.mean(mx.sum((xhat - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + lv - m * m - mx.exp(lv), axis=1))
    return recon, kl


def loss_fn(model, x, eps, beta):
    recon, kl = terms(model, x, eps)
    return recon + beta * kl, (recon, kl)


mx.random.seed(7)
model = RunVAE()
opt = optim.Adamax(learning_rate=2e-3)
mx.eval(model.parameters())

state = [model.state, opt.state, mx.random.state]
grad_fn = nn.value_and_grad(model, loss_fn)


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    eps = mx.random.normal((x.shape[0], 3))
    (loss, (recon, kl)), g = grad_fn(model, x, eps, beta)
    opt.update(model, g)
    return loss, recon, kl


# one-off audit: every trainable tensor gets a gradient at beta=1
_, g0 = grad_fn(model, train_x[:256], mx.random.normal((256, 3)), mx.array(1.0))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"audit": "grad", "tensors": len(tree_flatten(g0)), "zero": dead}))

CYCLES, PER_CYCLE, BS = 3, 400, 128
baseline = float(mx.mean(mx.sum(test_x ** 2, axis=1)))  # predicting the mean profile
t0 = time.time()
for c in range(CYCLES):
    for it in range(PER_CYCLE):
        beta = min(1.0, it / (PER_CYCLE / 2))
        idx = mx.array(rng.integers(0, train_x.shape[0], BS))
        loss, recon, kl = step(train_x[idx], mx.array(beta, dtype=mx.float32))
        mx.eval(loss, recon, kl, model.parameters(), opt.state)
        if it % 50 == 0 or it == PER_CYCLE - 1:
            print(json.dumps({"cycle": c, "it": it, "beta": round(beta, 3),
                              "loss": round(loss.item(), 4), "recon": round(recon.item(), 4),
                              "kl_nats": round(kl.item(), 4)}))

model.eval()
eps0 = mx.zeros((test_x.shape[0], 3))
r, k = terms(model, test_x, eps0)
mx.eval(r, k)
print(json.dumps({"summary": "test", "recon_sse": round(r.item(), 4),
                  "mean_profile_sse": round(baseline, 4),
                  "explained_pct": round(100 * (1 - r.item() / baseline), 2),
                  "kl_nats": round(k.item(), 4), "secs": round(time.time() - t0, 1)}))
