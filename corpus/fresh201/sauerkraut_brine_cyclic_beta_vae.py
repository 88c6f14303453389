"""Crock-fermentation pH curves -> tiny VAE with cyclical KL annealing.

Each synthetic batch of sauerkraut has a 16-point pH curve (day 0..15) set by
hidden salt % and cellar temperature.  We fit a VAE and anneal beta in cycles
(0 -> 1 over half a cycle, then hold), so the printed total loss jumps up at the
start of each cycle on purpose.  LR warms up linearly from exactly 0.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

DAYS = 16
N_CROCKS = 768
LATENT = 2


def make_crocks(n):
    salt = mx.random.uniform(1.5, 3.0, (n, 1))
    temp = mx.random.uniform(14.0, 24.0, (n, 1))
    t = mx.arange(DAYS, dtype=mx.float32)[None, :]
    rate = 0.08 * (temp - 10.0) / salt
    floor_ph = 3.3 + 0.15 * (salt - 1.5)
    ph = floor_ph + (6.4 - floor_ph) * mx.exp(-rate * t)
    ph = ph + 0.03 * mx.random.normal(ph.shape)
    return ph


raw = make_crocks(N_CROCKS)
mu_ph, sd_ph = mx.mean(raw, axis=0), mx.std(raw, axis=0) + 1e-3
data = (raw - mu_ph) / sd_ph
train, held = data[:640], data[640:]


class BrineVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(DAYS, 40), nn.SiLU(), nn.Linear(40, 40), nn.SiLU())
        self.to_mu = nn.Linear(40, LATENT)
        self.to_logvar = nn.Linear(40, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 40), nn.SiLU(), nn.Linear(40, 40), nn.SiLU(), nn.Linear(40, DAYS))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, logvar


def parts(model, x, key):
    recon, mu, logvar = model(x, key)
    rec = mx.mean(mx.sum((recon - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + logvar - mu ** 2 - mx.exp(logvar), axis=1))
    return rec, kl


def loss_fn(model, x, key, beta):
    rec, kl = parts(model, x, key)
    return rec + beta * kl, (rec, kl)


model = BrineVAE()
STEPS = 1200
CYCLE = 300
WARM = 60
PEAK = 3e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, STEPS - WARM, 2e-4)], [WARM]
)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)


def beta_at(step):
    pos = (step % CYCLE) / CYCLE
    return min(1.0, 2.0 * pos)


# gradient audit: every parameter must get signal
_, g0 = vg(model, train[:64], mx.random.key(0), mx.array(1.0))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

t0 = time.time()
key = mx.random.key(123)
BS = 64
for step in range(STEPS):
    key, k_idx, k_eps = mx.random.split(key, 3)
    idx = mx.random.randint(0, train.shape[0], (BS,), key=k_idx)
    beta = beta_at(step)
    lr_now = float(opt.learning_rate) if step > 0 else 0.0
    (loss, (rec, kl)), grads = vg(model, train[idx], k_eps, mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, rec, kl)
    if step % 50 == 0 or step == STEPS - 1:
        h_rec, h_kl = parts(model, held, mx.random.key(7))
        rec_ph = float(mx.sqrt(mx.mean(((model.dec(model.to_mu(model.enc(held))) - held) * sd_ph) ** 2)))
        print(json.dumps({
            "cycle": step // CYCLE, "step_in_cycle": step % CYCLE, "beta": round(beta, 3),
            "lr": f"{lr_now:.2e}", "elbo_total": round(float(loss), 4), "recon": round(float(rec), 4),
            "kl_nats": round(float(kl), 4), "held_recon": round(float(h_rec), 4), "held_kl": round(float(h_kl), 4),
            "mean_recon_rmse_pH": round(rec_ph, 4),
        }))

base_rmse = float(mx.sqrt(mx.mean((held * sd_ph) ** 2)))
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2),
                  "predict_mean_curve_rmse_pH": round(base_rmse, 4)}))
