"""Volcanic harmonic-tremor spectra -> small VAE with cyclical KL annealing.

Synthetic 32-bin log-amplitude spectra (fundamental + overtones, spectral tilt,
broadband floor).  The KL weight beta restarts at 0 every cycle and ramps to 1,
so the total objective climbs during each ramp by design.  Logs are JSON lines.
"""
import json
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BINS = 32
LATENT = 4
rs = np.random.default_rng(11)


def tremor_batch(n):
    f0 = rs.uniform(2.0, 6.0, size=(n, 1))            # fundamental, in bins
    tilt = rs.normal(-0.04, 0.015, size=(n, 1))
    gain = rs.normal(0.0, 0.3, size=(n, 1))
    b = np.arange(BINS)[None, :]
    spec = np.zeros((n, BINS))
    for h in range(1, 6):
        amp = 1.4 / h
        spec += amp * np.exp(-0.5 * ((b - h * f0) / 0.9) ** 2)
    spec = np.log1p(spec + 0.05) + tilt * b + gain
    spec += rs.normal(0, 0.03, size=spec.shape)
    return spec.astype(np.float32)


X_train = tremor_batch(6000)
X_val = tremor_batch(1000)
mu, sd = X_train.mean(0), X_train.std(0) + 1e-6
X_train = mx.array((X_train - mu) / sd)
X_val = mx.array((X_val - mu) / sd)


class TremorVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BINS, 96), nn.SiLU(), nn.Linear(96, 48), nn.SiLU())
        self.to_mu = nn.Linear(48, LATENT)
        self.to_logvar = nn.Linear(48, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 48), nn.SiLU(), nn.Linear(48, 96), nn.SiLU(),
                                 nn.Linear(96, BINS))

    def __call__(self, x):
        h = self.enc(x)
        m, lv = self.to_mu(h), self.to_logvar(h)
        z = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(z), m, lv


def terms(model, x):
    xhat, m, lv = model(x)
    rec = (0.5 * (xhat - x) ** 2).sum(-1).mean()
    kl = (-0.5 * (1 + lv - m ** 2 - mx.exp(lv))).sum(-1).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(5)
model = TremorVAE()
mx.eval(model.parameters())

CYCLES, STEPS_PER_CYCLE, BATCH = 4, 200, 128
TOTAL = CYCLES * STEPS_PER_CYCLE
warm = optim.linear_schedule(0.0, 2e-3, 100)
decay = optim.cosine_decay(2e-3, TOTAL - 100, 1e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [100]), weight_decay=1e-4)

vg = nn.value_and_grad(model, objective)

# one-off audit: every trainable tensor must receive gradient signal
(_, _), g0 = vg(model, X_train[:256], mx.array(1.0))
gnorms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms", "n_tensors": len(gnorms),
                  "min": round(min(gnorms.values()), 6),
                  "zero": [k for k, v in gnorms.items() if v == 0.0]}))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (rec, kl)), grads = vg(model, x, beta)
    opt.update(model, grads)
    return loss, rec, kl


def beta_at(step_in_cycle):
    # ramp 0 -> 1 over the first half of the cycle, then hold at 1
    return min(1.0, step_in_cycle / (0.5 * STEPS_PER_CYCLE))


baseline_rec = (0.5 * (X_val - X_train.mean(0)) ** 2).sum(-1).mean().item()
n = X_train.shape[0]
gstep = 0
for cycle in range(1, CYCLES + 1):
    for s in range(STEPS_PER_CYCLE):
        idx = mx.array(rs.integers(0, n, size=BATCH))
        beta = beta_at(s)
        loss, rec, kl = train_step(X_train[idx], mx.array(beta))
        mx.eval(state, loss, rec, kl)
        lr_now = opt.learning_rate.item()
        gstep += 1
        if s % 25 == 0:
            print(json.dumps({"cycle": cycle, "step": s, "beta": round(beta, 3),
                              "lr": float(f"{lr_now:.3e}"), "loss": round(loss.item(), 4),
                              "rec": round(rec.item(), 4), "kl": round(kl.item(), 4)}))
    vr, vk = terms(model, X_val)
    _, m_val, _ = model(X_val)
    active = int((mx.var(m_val, axis=0) > 0.01).sum().item())
    print(json.dumps({"cycle_end": cycle, "val_rec": round(vr.item(), 4), "val_kl": round(vk.item(), 4),
                      "val_elbo": round(-(vr + vk).item(), 4), "baseline_rec": round(baseline_rec, 4),
                      "active_units": f"{active}/{LATENT}", "gstep": gstep}))
