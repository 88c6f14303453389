"""Harpsichord voicing bench: a small VAE over 32-sample pluck envelopes.

The KL weight ramps linearly from 0 to 1 over the first epochs, so the
objective climbs while the ramp is on.  Gradients are summed through
mx.distributed (single process on the bench laptop), and the step is
compiled.  One JSON record per epoch goes to stdout.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map
from functools import partial

world = mx.distributed.init()
mx.random.seed(31)
rng = np.random.default_rng(31)
T = 32


def plucks(n):
    t = np.arange(T)[None, :]
    register = rng.integers(0, 4, (n, 1))          # 8' lower, 8' upper, 4', lute stop
    hard = rng.uniform(0.2, 1.0, (n, 1))            # quill/delrin hardness
    attack = rng.uniform(1.0, 3.5, (n, 1))
    decay = 0.05 + 0.04 * register + 0.06 * (1 - hard)
    peak = 0.4 + 0.5 * hard - 0.08 * register
    env = peak * (1 - np.exp(-t / attack)) * np.exp(-decay * t)
    buzz = (rng.random((n, 1)) < 0.2) * 0.08 * np.sin(2 * np.pi * t / rng.uniform(3, 6, (n, 1)))
    x = env + buzz * np.exp(-0.05 * t) + rng.normal(0, 0.02, (n, T))
    return x.astype(np.float32)


train = mx.array(plucks(3000))
held = mx.array(plucks(500))
mean_env = mx.mean(train, axis=0)


@mx.custom_function
def clamp_logvar(v):
    return mx.clip(v, -6.0, 3.0)


@clamp_logvar.vjp
def _clamp_vjp(primals, cotangent, output):
    # straight-through: let the encoder still hear the KL term when it hits the rail
    return (cotangent,)


class PluckVAE(nn.Module):
    def __init__(self, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, z)
        self.lv = nn.Linear(64, z)
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, T))

    def __call__(self, x):
        h = self.enc(x)
        mu, lv = self.mu(h), clamp_logvar(self.lv(h))
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


SIG2 = 0.02 ** 2 * 4  # decoder variance (fixed)


def terms(model, x):
    xh, mu, lv = model(x)
    recon = mx.sum((xh - x) ** 2, axis=1) / (2 * SIG2)
    kl = -0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)
    return mx.mean(recon), mx.mean(kl), mu


def objective(model, x, beta):
    r, k, _ = terms(model, x)
    return r + beta * k, (r, k)


model = PluckVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=2e-3)
vg = nn.value_and_grad(model, objective)

_, g = vg(model, train[:128], mx.array(1.0))
dead = [k for k, v in tree_flatten(g) if float(mx.max(mx.abs(v))) == 0.0]
print(json.dumps({"audit": "grad", "tensors": len(tree_flatten(g)), "zero": dead, "world": world.size()}))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (r, k)), grads = vg(model, x, beta)
    grads = tree_map(lambda a: mx.distributed.all_sum(a) / world.size(), grads)
    opt.update(model, grads)
    return loss, r, k


base = float(mx.mean(mx.sum((held - mean_env) ** 2, axis=1) / (2 * SIG2)))
EPOCHS, RAMP, BS = 24, 10, 100
t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / RAMP)
    perm = mx.array(rng.permutation(train.shape[0]))
    tot = rs = ks = 0.0
    nb = 0
    for i in range(0, train.shape[0], BS):
        loss, r, k = step(train[perm[i:i + BS]], mx.array(beta))
        mx.eval(loss, r, k, model.parameters(), opt.state)
        tot += float(loss); rs += float(r); ks += float(k); nb += 1
    hr, hk, hmu = terms(model, held)
    active = int(mx.sum(mx.var(hmu, axis=0) > 0.01))
    rec = {"ep": ep, "beta": round(beta, 2), "loss": round(tot / nb, 2), "recon": round(rs / nb, 2),
           "kl_nats": round(ks / nb, 3), "held_recon": round(float(hr), 2), "held_kl": round(float(hk), 3),
           "mean_env_recon": round(base, 2), "active_z": active, "sec": round(time.time() - t0, 1)}
    print(json.dumps(rec))

hr, hk, _ = terms(model, held)
print(json.dumps({"summary": "done", "held_neg_elbo": round(float(hr + hk), 2),
                  "vs_mean_envelope": round(base, 2), "ratio": round(float(hr + hk) / base, 3)}))
