"""Airship gas-cell pressure traces -> small VAE with cyclical KL (beta) annealing.

Each trace is 24 readings (Pa above ambient) of one gas cell during a flight leg:
a slow altitude ramp, a solar-heating bump and an optional venting step.
beta restarts at 0 every cycle, so the total loss climbs back up within each cycle.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
T = 24
LATENT = 3


def make_traces(n):
    t = mx.linspace(0, 1, T)[None]
    climb = mx.random.uniform(-1.0, 1.0, (n, 1))
    sun = mx.random.uniform(0.0, 1.0, (n, 1))
    vent_at = mx.random.uniform(0.3, 0.9, (n, 1))
    vent = mx.random.uniform(0.0, 0.8, (n, 1))
    x = climb * t + sun * mx.sin(math.pi * t) - vent * (t > vent_at)
    x = x + 0.03 * mx.random.normal(x.shape)
    return 40.0 * x  # Pa


train, val = make_traces(2048), make_traces(512)
mu_x, sd_x = train.mean(0), train.std(0) + 1e-3
train_n, val_n = (train - mu_x) / sd_x, (val - mu_x) / sd_x


class GasCellVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, T))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, logvar


def terms(model, x, sample=True):
    xh, mu, logvar = model(x, sample)
    recon = mx.sum((xh - x) ** 2, axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mu**2 - mx.exp(logvar), axis=-1)).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = GasCellVAE()
mx.eval(model.parameters())
steps_total, cycle_len, bs = 512, 128, 64
warm = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps_total - warm, 3e-4)], [warm]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


vg = nn.value_and_grad(model, loss_fn)

# audit: every parameter should see a gradient at beta=1
(_, _), g0 = vg(model, train_n[:bs], mx.array(1.0))
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"audit": "grad_nonzero", "params": len(tree_flatten(g0)), "zero_grad": zero}))

base_recon = float(mx.sum(val_n**2, axis=-1).mean())  # predict the mean trace
step = 0
for epoch in range(steps_total // 32):
    perm = mx.random.permutation(train_n.shape[0])
    for b in range(32):
        idx = perm[b * bs:(b + 1) * bs]
        pos = step % cycle_len
        beta = min(1.0, pos / (cycle_len / 2))
        if pos == 0:
            print(json.dumps({"event": "cycle_start", "cycle": step // cycle_len + 1, "beta": 0.0}))
        (loss, (rec, kl)), grads = vg(model, train_n[idx], mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        step += 1
    vrec, vkl = terms(model, val_n, sample=False)
    elbo = -(vrec + vkl).item()
    print(json.dumps({
        "epoch": epoch, "step": step, "cycle_pos": step % cycle_len, "beta": round(beta, 3),
        "lr": round(float(opt.learning_rate), 6), "train_loss": round(loss.item(), 4),
        "val_recon": round(vrec.item(), 4), "val_kl_nats": round(vkl.item(), 4),
        "val_elbo": round(elbo, 4), "mean_trace_recon": round(base_recon, 4),
    }))

r_final, kl_final = terms(model, val_n, sample=False)
print(f"summary: val recon {r_final.item():.3f} vs mean-trace baseline {base_recon:.3f} "
      f"({100 * (1 - r_final.item() / base_recon):.1f}% of variance explained), KL {kl_final.item():.2f} nats")
