# beta-VAE over harpsichord string decay envelopes (log-amplitude, 40 frames).
# KL weight anneals 0 -> 1 over the first epochs, so the total objective climbs
# while reconstruction improves; learning rate warms up from exactly 0.
import json
import math
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.default_rng(3)
FR = 40


def envelopes(n):
    t = np.linspace(0, 1, FR)
    tau1 = rs.uniform(0.15, 0.6, n)[:, None]
    tau2 = rs.uniform(1.0, 4.0, n)[:, None]
    mix = rs.uniform(0.2, 0.8, n)[:, None]
    pluck = rs.uniform(-2, 0, n)[:, None]
    env = np.log(mix * np.exp(-t / tau1) + (1 - mix) * np.exp(-t / tau2) + 1e-3) + pluck
    return (env + 0.03 * rs.standard_normal((n, FR))).astype(np.float32)


tr = envelopes(3000)
mu_, sd_ = tr.mean(0), tr.std(0)
tr = (tr - mu_) / sd_
va = (envelopes(500) - mu_) / sd_


class VAE(nn.Module):
    def __init__(self, z=4):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(FR, 64), nn.GELU(), nn.Linear(64, 2 * z))
        self.dec = nn.Sequential(nn.Linear(z, 64), nn.GELU(), nn.Linear(64, FR))

    def __call__(self, x):
        m, lv = mx.split(self.enc(x), 2, axis=-1)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(z), m, lv


def terms(model, x):
    xh, m, lv = model(x)
    rec = mx.sum(mx.square(xh - x), axis=-1).mean()
    kl = (-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=-1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(5)
model = VAE()
EPOCHS, BS = 14, 100
steps_per = len(tr) // BS
warm = optim.linear_schedule(0.0, 2e-3, 2 * steps_per)
cos = optim.cosine_decay(2e-3, (EPOCHS - 2) * steps_per, end=1e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [2 * steps_per]), weight_decay=1e-4)
mx.eval(model.parameters())

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (rec, kl)), g = nn.value_and_grad(model, objective)(model, x, beta)
    opt.update(model, g)
    return loss, rec, kl


t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / 6.0)
    perm = rs.permutation(len(tr))
    acc = np.zeros(3)
    for s in range(steps_per):
        xb = mx.array(tr[perm[s * BS:(s + 1) * BS]])
        out = train_step(xb, mx.array(beta))
        mx.eval(state, out)
        acc += [o.item() for o in out]
    acc /= steps_per
    vrec, vkl = terms(model, mx.array(va))
    print(json.dumps({"epoch": ep, "beta": round(beta, 3), "lr": round(opt.learning_rate.item(), 6),
                      "elbo_obj": round(acc[0], 4), "recon": round(acc[1], 4), "kl_nats": round(acc[2], 4),
                      "val_recon": round(vrec.item(), 4), "val_kl": round(vkl.item(), 4),
                      "wall_s": round(time.time() - t0, 2)}))
print(json.dumps({"final": True, "val_recon_per_frame": round(vrec.item() / FR, 4), "baseline_var_per_frame": 1.0}))
