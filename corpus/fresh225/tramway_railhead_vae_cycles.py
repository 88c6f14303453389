"""Tramway rail-head wear: a small VAE over 20-point cross-section wear profiles (mm).

Synthetic profiles: side wear on the gauge corner, vertical head wear, a corrugation ripple
and measurement noise. KL weight follows a cyclic schedule (3 cycles, ramp 0 -> 1 over the
first half of each cycle, then held), so the ELBO goes *up* at the start of every cycle.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

NPTS = 20


def make_profile():
    side = random.uniform(0.0, 4.0)        # gauge-corner side wear, mm
    vert = random.uniform(0.0, 3.0)        # vertical head wear, mm
    ripple = random.uniform(0.0, 0.4)      # corrugation amplitude, mm
    phase = random.uniform(0, 2 * math.pi)
    out = []
    for i in range(NPTS):
        u = i / (NPTS - 1)                 # 0 = field side, 1 = gauge corner
        w = vert * (1 - 0.3 * (u - 0.5) ** 2) + side * u ** 4
        w += ripple * math.sin(6 * math.pi * u + phase)
        w += random.gauss(0, 0.05)
        out.append(w)
    return out


train = mx.array([make_profile() for _ in range(3000)])
valid = mx.array([make_profile() for _ in range(500)])
mu_d = train.mean(axis=0)
sd_d = train.std(axis=0) + 1e-3
train = (train - mu_d) / sd_d
valid = (valid - mu_d) / sd_d


@mx.custom_function
def soft_clip_logvar(x):
    return mx.clip(x, -6.0, 3.0)


@soft_clip_logvar.vjp
def soft_clip_logvar_vjp(primals, cotangent, output):
    # straight-through inside the box, damped (not zeroed) outside so the
    # encoder can still pull an out-of-range logvar back
    x = primals
    inside = (x >= -6.0) & (x <= 3.0)
    return mx.where(inside, cotangent, 0.1 * cotangent)


class RailVAE(nn.Module):
    def __init__(self, d=NPTS, h=48, z=3):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, d))

    def __call__(self, x):
        e = self.enc(x)
        mu = self.mu(e)
        lv = soft_clip_logvar(self.logvar(e))
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def terms(model, x):
    xr, mu, lv = model(x)
    rec = mx.sum((xr - x) ** 2, axis=1).mean()
    kl = (-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1)).mean()
    return rec, kl


def loss_fn(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


model = RailVAE()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.03)
vg = nn.value_and_grad(model, loss_fn)

# one-off check that every parameter receives gradient
(_, _), g0 = vg(model, train[:128], mx.array(0.5))
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "tensors": len(tree_flatten(g0)), "zero_grad": dead}))

CYCLES, STEPS_PER_CYCLE, BS = 3, 600, 64
N = train.shape[0]
for cycle in range(1, CYCLES + 1):
    for t in range(STEPS_PER_CYCLE):
        beta = min(1.0, t / (STEPS_PER_CYCLE / 2))
        idx = mx.random.randint(0, N, (BS,))
        (loss, (rec, kl)), grads = vg(model, train[idx], mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if t % 100 == 0 or t == STEPS_PER_CYCLE - 1:
            vrec, vkl = terms(model, valid)
            print(json.dumps({
                "cycle": cycle, "t": t, "beta": round(beta, 3),
                "neg_elbo": round(loss.item(), 4), "rec": round(rec.item(), 4), "kl": round(kl.item(), 4),
                "val_rec": round(vrec.item(), 4), "val_kl_nats": round(vkl.item(), 4),
            }))

# summary table: reconstruction of held-out profiles in mm (mean z, no sampling)
e = model.enc(valid)
recon = model.dec(model.mu(e)) * sd_d + mu_d
truth = valid * sd_d + mu_d
mae = mx.abs(recon - truth).mean(axis=0)
base = mx.abs(truth - mu_d).mean(axis=0)
print(f"{'pt':>3} | {'mae_mm':>7} | {'mean-profile_mm':>15}")
for i in range(0, NPTS, 4):
    print(f"{i:>3} | {mae[i].item():7.3f} | {base[i].item():15.3f}")
print(f"all | {mae.mean().item():7.3f} | {base.mean().item():15.3f}")
