"""Wheel-flat impact snippets -> small beta-VAE.

Synthetic 32-sample wayside accelerometer snippets: a flat wheel gives a
periodic impact train whose spacing depends on train speed; healthy wheels
give only rolling noise. Beta ramps 0 -> 0.3 over the first 300 steps and the
learning rate warms up from exactly 0, so the total objective climbs for a
while before it settles. One JSON object per log line.
"""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
T, Z = 32, 4


def snippets(n):
    t = np.arange(T)
    speed = rng.uniform(0.6, 1.6, n)             # relative train speed
    flat = rng.random(n) < 0.5
    depth = rng.uniform(0.5, 1.5, n) * flat
    period = 12.0 / speed
    phase = rng.uniform(0, 3, n)
    dist = np.mod(t[None, :] - phase[:, None], period[:, None])
    impact = depth[:, None] * np.exp(-dist / 3.0)
    roll = 0.15 * speed[:, None] * np.sin(0.9 * t[None, :] * speed[:, None])
    x = impact + roll + 0.05 * rng.standard_normal((n, T))
    return mx.array(x.astype(np.float32))


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU())
        self.mu = nn.Linear(64, Z)
        self.logvar = nn.Linear(64, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 64), nn.SiLU(), nn.Linear(64, 128), nn.SiLU(), nn.Linear(128, T))

    def __call__(self, x):
        h = self.enc(x)
        mu, lv = self.mu(h), self.logvar(h)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def terms(model, x):
    xh, mu, lv = model(x)
    recon = mx.sum((xh - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = VAE()
mx.eval(model.parameters())
STEPS, WARM, RAMP = 1000, 40, 300
BETA_MAX = 0.3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)], [WARM]
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (recon, kl)), grads = vg(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


train_x = snippets(2048)
val_x = snippets(512)
zero_recon = mx.sum(val_x ** 2, axis=1).mean().item()   # "predict silence" reference
t0 = time.time()
for step in range(STEPS):
    beta = BETA_MAX * min(1.0, step / RAMP)
    idx = mx.array(rng.integers(0, train_x.shape[0], 128))
    loss, recon, kl = train_step(train_x[idx], mx.array(beta))
    mx.eval(state, loss, recon, kl)
    if step % 100 == 0 or step == STEPS - 1:
        print(json.dumps({"step": step, "lr": round(float(opt.learning_rate.item()), 6),
                          "beta": round(beta, 3), "total": round(loss.item(), 4),
                          "recon": round(recon.item(), 4), "kl_nats": round(kl.item(), 4)}))

model.eval()
vr, vk = terms(model, val_x)
gnorm_check = nn.value_and_grad(model, objective)(model, val_x[:256], BETA_MAX)[1]
zero_grads = [k for k, g in tree_flatten(gnorm_check) if mx.abs(g).sum().item() == 0]
print(json.dumps({"summary": "val", "recon": round(vr.item(), 4), "kl_nats": round(vk.item(), 4),
                  "recon_if_silence": round(zero_recon, 4),
                  "recon_pct_of_silence": round(100 * vr.item() / zero_recon, 1),
                  "zero_grad_tensors": len(zero_grads), "secs": round(time.time() - t0, 1)}))
