"""Beta-VAE on synthetic typewriter key-strike envelopes.

KL weight is annealed 0 -> 1 over the first 300 steps, and the learning rate
warms up linearly from 0.  One JSON object per log line.
"""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
T = 32
N = 768
t = mx.arange(T).astype(mx.float32) / T

# key classes: letter, space bar, carriage return -> different decay/ring
kind = mx.random.randint(0, 3, (N,))
decay = mx.array([9.0, 5.0, 2.5])[kind] * (1 + 0.15 * mx.random.normal((N,)))
ring = mx.array([18.0, 11.0, 6.0])[kind] * (1 + 0.05 * mx.random.normal((N,)))
amp = 0.6 + 0.4 * mx.random.uniform(shape=(N,))
env = amp[:, None] * mx.exp(-decay[:, None] * t) * (0.7 + 0.3 * mx.cos(ring[:, None] * t))
env = env + 0.02 * mx.random.normal(env.shape)
mu_d, sd_d = mx.mean(env, axis=0), mx.std(env, axis=0) + 1e-3
data = (env - mu_d) / sd_d
train, held = data[:640], data[640:]


class ClackVAE(nn.Module):
    def __init__(self, z=4, h=64):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, T))

    def __call__(self, x, key):
        e = self.enc(x)
        mu, lv = self.to_mu(e), self.to_logvar(e)
        zs = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(zs), mu, lv


def parts(model, x, key):
    xr, mu, lv = model(x, key)
    recon = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1))
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = parts(model, x, key)
    return recon + beta * kl, (recon, kl)


STEPS, WARM, ANNEAL, BS = 900, 120, 300, 64
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM])
model = ClackVAE()
opt = optim.Lion(learning_rate=sched, weight_decay=0.0)
vg = nn.value_and_grad(model, objective)

baseline = mx.mean(mx.sum((held - mx.mean(train, axis=0)) ** 2, axis=1)).item()
rng = mx.random.key(5)
for step in range(STEPS):
    rng, kb, kn = mx.random.split(rng, 3)
    idx = mx.random.randint(0, train.shape[0], (BS,), key=kb)
    beta = min(1.0, step / ANNEAL)
    lr_now = sched(opt.step).item()
    (total, (recon, kl)), grads = vg(model, train[idx], kn, beta)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, total, recon, kl)
    if step == 0:
        gn = {k: mx.sqrt(mx.sum(v * v)).item() for k, v in nn.utils.tree_flatten(grads)}
        zero = [k for k, v in gn.items() if v == 0.0]
        print(json.dumps({"audit": "grad_norms", "n_params": len(gn), "zero_grad": zero}))
    if step % 60 == 0 or step == STEPS - 1:
        hr, hk = parts(model, held, mx.random.key(99))
        print(json.dumps({"step": step, "lr": round(lr_now, 6), "beta": round(beta, 3),
                          "total": round(total.item(), 4), "recon_sse": round(recon.item(), 4),
                          "kl_nats": round(kl.item(), 4), "held_sse": round(hr.item(), 4),
                          "held_kl": round(hk.item(), 4), "mean_env_baseline": round(baseline, 4)}))
