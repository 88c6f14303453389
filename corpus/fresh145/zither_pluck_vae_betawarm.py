# Zither string pluck envelopes -> 4-d beta-VAE.
# Amplitude envelopes (32 frames) of plucked strings depend on tension (decay time),
# pluck position (beating depth) and detuning of the course pair (beat rate).
# KL weight beta is held at 0, then ramped to 1, so the printed total goes UP
# while the model is still learning.  Training step is mx.compile'd.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)
T = 32


def pluck_envelopes(n):
    t = np.arange(T) / T
    tension = rng.uniform(0.15, 0.8, (n, 1))          # longer ring when taut
    pos = rng.uniform(0.05, 0.5, (n, 1))              # pluck position along the string
    detune = rng.uniform(1.0, 4.0, (n, 1))            # beat cycles per window
    attack = 1 - np.exp(-t / 0.03)
    env = attack * np.exp(-t / tension) * (1 + 0.5 * pos * np.cos(2 * np.pi * detune * t))
    env += rng.normal(0, 0.01, env.shape)
    return env.astype(np.float32)


train = mx.array(pluck_envelopes(3200))
held = mx.array(pluck_envelopes(400))
MU = mx.mean(train, axis=0)
SD = mx.std(train, axis=0) + 1e-3
train = (train - MU) / SD
held = (held - MU) / SD


class PluckVAE(nn.Module):
    def __init__(self, d=T, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(),
                                 nn.Linear(h, d))

    def __call__(self, x):
        e = self.enc(x)
        mu, lv = self.mu(e), self.logvar(e)
        zs = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(zs), mu, lv


def terms(model, x):
    xr, mu, lv = model(x)
    recon = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1))
    return recon, kl


def objective(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


model = PluckVAE()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, objective)
state = [model.state, opt.state, mx.random.state]


def gnorm(tree):
    leaves = []
    def walk(t):
        if isinstance(t, dict):
            for v in t.values():
                walk(v)
        elif isinstance(t, list):
            for v in t:
                walk(v)
        else:
            leaves.append(mx.sum(t * t))
    walk(tree)
    return mx.sqrt(sum(leaves))


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (recon, kl)), g = vg(model, x, beta)
    opt.update(model, g)
    return loss, recon, kl, gnorm(g["enc"]), gnorm(g["dec"])


EPOCHS, BATCH = 14, 128
per_epoch = train.shape[0] // BATCH
total = EPOCHS * per_epoch
HOLD, RAMP = 2 * per_epoch, 6 * per_epoch
it = 0
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(train.shape[0]))
    sums = np.zeros(3)
    for b in range(per_epoch):
        beta = 0.0 if it < HOLD else min(1.0, (it - HOLD) / RAMP)
        xb = train[perm[b * BATCH:(b + 1) * BATCH]]
        loss, rec, kl, ge, gd = step(xb, mx.array(beta))
        mx.eval(state, loss, rec, kl, ge, gd)
        sums += [loss.item(), rec.item(), kl.item()]
        it += 1
    el = time.time() - t0
    bar = "#" * 10
    print(f"epoch {ep:2d}/{EPOCHS}: 100%|{bar}| {per_epoch}/{per_epoch} "
          f"[{el:5.1f}s, loss={sums[0]/per_epoch:.3f}, recon={sums[1]/per_epoch:.3f}, "
          f"kl={sums[2]/per_epoch:.3f}, beta={beta:.2f}]")
    if ep % 2 == 0:
        hr, hk = terms(model, held)
        print(f"  audit  |g_enc|={ge.item():.4f}  |g_dec|={gd.item():.4f}  "
              f"held recon={hr.item():.3f} kl={hk.item():.3f}  "
              f"(all-zero reconstruction would score {T:.1f})")

model.eval()
hr, hk = terms(model, held)
print(f"done {it} updates: held-out recon {hr.item():.3f} + kl {hk.item():.3f} = "
      f"{hr.item() + hk.item():.3f} nats-ish per envelope")
