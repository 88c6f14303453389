"""Ropewalk strand-twist profiles: a small beta-VAE.

Each sample is a 20-point twist-per-metre trace measured along a freshly laid
strand (synthetic: a few lay styles, random hardness, a slack patch, sensor
noise).  We anneal the KL weight beta from 0 to 1 over the first half of the
run, so the total objective is expected to climb for a while even though the
reconstruction keeps improving.  Learning rate warms up from exactly 0.
Output: one JSON object per report line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(127)
POINTS = 20
N_TRAIN, N_VALID = 3000, 600


def make_profiles(n):
    pos = np.linspace(0.0, 1.0, POINTS)
    style = rng.integers(0, 3, size=n)            # hawser / cable / shroud lay
    hard = rng.uniform(0.6, 1.4, size=n)          # hard vs soft lay
    base = np.where(style[:, None] == 0, 1.0 + 0.3 * np.sin(2 * np.pi * pos),
           np.where(style[:, None] == 1, 1.4 - 0.5 * pos,
                    0.8 + 0.6 * pos ** 2))
    prof = hard[:, None] * base
    # a slack patch somewhere along the strand
    centre = rng.uniform(0.15, 0.85, size=n)
    depth = rng.uniform(0.0, 0.5, size=n)
    prof -= depth[:, None] * np.exp(-((pos[None, :] - centre[:, None]) / 0.07) ** 2)
    prof += rng.normal(0.0, 0.04, size=prof.shape)
    return prof.astype(np.float32)


train_np = make_profiles(N_TRAIN)
valid_np = make_profiles(N_VALID)
mu, sd = train_np.mean(0), train_np.std(0) + 1e-6
train = mx.array((train_np - mu) / sd)
valid = mx.array((valid_np - mu) / sd)
# reference: reconstruct every profile by the training mean -> per-point MSE ~ 1.0
mean_baseline = float(((valid_np - mu) / sd).var(0).mean())


class TwistVAE(nn.Module):
    def __init__(self, d=POINTS, h=64, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.to_mu = nn.Linear(h, z)
        self.to_logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.GELU(), nn.Linear(h, h), nn.GELU(),
                                 nn.Linear(h, d))

    def __call__(self, x, eps):
        h = self.enc(x)
        m, lv = self.to_mu(h), mx.clip(self.to_logvar(h), -8.0, 6.0)
        zs = m + mx.exp(0.5 * lv) * eps
        return self.dec(zs), m, lv


def terms(model, x, eps):
    xh, m, lv = model(x, eps)
    recon = mx.mean(mx.sum((xh - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1.0 + lv - m ** 2 - mx.exp(lv), axis=1))
    return recon, kl


def objective(model, x, eps, beta):
    recon, kl = terms(model, x, eps)
    return recon + beta * kl, (recon, kl)


mx.random.seed(127)
model = TwistVAE()
mx.eval(model.parameters())

STEPS, BATCH = 1600, 128
WARM = 100
ANNEAL = STEPS // 2
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, objective)

# gradient sanity: every trainable tensor must get signal on step 0 (beta>0 here)
_, g0 = grad_fn(model, train[:BATCH], mx.random.normal((BATCH, 4)), mx.array(0.5))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "all_zero": dead}))

t0 = time.time()
perm = np.arange(N_TRAIN)
acc = {"total": 0.0, "recon": 0.0, "kl": 0.0}
n_acc = 0
for step in range(1, STEPS + 1):
    if (step - 1) % (N_TRAIN // BATCH) == 0:
        rng.shuffle(perm)
    j = ((step - 1) % (N_TRAIN // BATCH)) * BATCH
    xb = train[mx.array(perm[j:j + BATCH])]
    beta = min(1.0, (step - 1) / ANNEAL)
    eps = mx.random.normal((BATCH, 4))
    (tot, (rc, kl)), grads = grad_fn(model, xb, eps, mx.array(beta))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, tot, rc, kl)
    acc["total"] += tot.item(); acc["recon"] += rc.item(); acc["kl"] += kl.item(); n_acc += 1

    if step % 100 == 0 or step == 1:
        vr, vk = terms(model, valid, mx.random.normal((N_VALID, 4)))
        mx.eval(vr, vk)
        line = {
            "step": step,
            "beta": round(beta, 3),
            "lr": float(opt.learning_rate.item()),
            "train": {k: round(v / n_acc, 4) for k, v in acc.items()},
            "valid_recon_per_pt": round(vr.item() / POINTS, 4),
            "mean_profile_ref": round(mean_baseline, 4),
            "valid_kl_nats": round(vk.item(), 3),
            "elbo_valid": round(-(vr.item() + vk.item()), 3),
        }
        print(json.dumps(line))
        acc = {k: 0.0 for k in acc}
        n_acc = 0

vr, vk = terms(model, valid, mx.zeros((N_VALID, 4)))
mx.eval(vr, vk)
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 1),
                  "valid_recon_per_pt_at_mean_z": round(vr.item() / POINTS, 4),
                  "ratio_vs_mean_profile": round(vr.item() / POINTS / mean_baseline, 3)}))
