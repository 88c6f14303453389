# Tempeh incubator log VAE: compress 24-hour (pH, moisture, bed temp) fermentation curves
# into a 4-d latent. KL weight is annealed 0 -> 1, LR warms up from 0.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
HOURS = 24


def make_batches(n):
    k1, k2, k3, k4 = mx.random.split(mx.random.key(11), 4)
    rate = 0.05 + 0.15 * mx.random.uniform(key=k1, shape=(n, 1))        # acidification speed
    start_ph = 4.2 + 0.6 * mx.random.uniform(key=k2, shape=(n, 1))
    sugar = 6.0 + 4.0 * mx.random.uniform(key=k3, shape=(n, 1))           # starting moisture
    phase = 2 * math.pi * mx.random.uniform(key=k4, shape=(n, 1))
    t = mx.arange(HOURS, dtype=mx.float32)[None, :]
    ph = 2.9 + (start_ph - 2.9) * mx.exp(-rate * t)
    moisture = sugar * mx.exp(-0.6 * rate * t)
    temp = 24.0 + 1.5 * mx.sin(2 * math.pi * t / 24.0 + phase)
    noise = 0.03 * mx.random.normal(shape=(n, 3 * HOURS), key=mx.random.key(5))
    x = mx.concatenate([(ph - 3.6) / 0.4, (moisture - 6.0) / 2.5, (temp - 24.0) / 1.5], axis=1)
    return x + noise


class CurveVAE(nn.Module):
    def __init__(self, d_in=3 * HOURS, hidden=96, latent=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, d_in))

    def __call__(self, x, eps):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * logvar) * eps
        return self.dec(z), mu, logvar


def loss_parts(model, x, eps, beta):
    xhat, mu, logvar = model(x, eps)
    recon = mx.sum(mx.square(xhat - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1 + logvar - mx.square(mu) - mx.exp(logvar), axis=1)).mean()
    return recon + beta * kl, (recon, kl)


train_x = make_batches(2048)
valid_x = make_batches(2560)[2048:]
baseline_recon = mx.sum(mx.square(valid_x - train_x.mean(axis=0)), axis=1).mean().item()

model = CurveVAE()
mx.eval(model.parameters())
steps = 600
warm = 50
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, steps - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_parts)

# one-off audit: every trainable tensor must receive gradient signal
eps0 = mx.random.normal((64, 4))
(_, _), g0 = vg(model, train_x[:64], eps0, mx.array(0.5))
flat = tree_flatten(g0)
dead = [k for k, v in flat if mx.abs(v).sum().item() == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(flat), "zero_grad": dead}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, eps, beta):
    (total, (recon, kl)), grads = vg(model, x, eps, beta)
    opt.update(model, grads)
    return total, recon, kl


BATCH = 128
perm = mx.random.permutation(train_x.shape[0])
for it in range(steps):
    s = (it * BATCH) % train_x.shape[0]
    if s == 0:
        perm = mx.random.permutation(train_x.shape[0])
    xb = train_x[perm[s:s + BATCH]]
    beta = min(1.0, it / 300.0)
    eps = mx.random.normal((BATCH, 4))
    lr_now = sched(opt.step).item()
    total, recon, kl = step(xb, eps, mx.array(beta))
    mx.eval(total, recon, kl, state)
    if it % 50 == 0 or it == steps - 1:
        _, (vr, vk) = loss_parts(model, valid_x, mx.zeros((valid_x.shape[0], 4)), beta)
        print(json.dumps({"step": it, "lr": round(lr_now, 6), "beta": round(beta, 3),
                          "total": round(total.item(), 3), "recon": round(recon.item(), 3),
                          "kl": round(kl.item(), 3), "val_recon": round(vr.item(), 3),
                          "val_kl": round(vk.item(), 3),
                          "baseline_recon": round(baseline_recon, 3),
                          "recon_pct_of_baseline": round(100 * vr.item() / baseline_recon, 1)}))

_, (vr, vk) = loss_parts(model, valid_x, mx.zeros((valid_x.shape[0], 4)), 1.0)
print(json.dumps({"event": "done", "val_elbo": round(vr.item() + vk.item(), 3),
                  "val_recon": round(vr.item(), 3), "val_kl": round(vk.item(), 3),
                  "mean_curve_recon": round(baseline_recon, 3)}))
