"""Urushi lacquer curing: a small VAE of 12-point hardness curves (pencil-hardness
units vs hours in the curing cabinet). Curves come from two hidden cabinet knobs
(relative humidity, temperature). The KL weight beta ramps 0 -> 1 over the first
half, so the total objective climbs while the reconstruction keeps improving.
Prints one JSON object per report.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
HOURS = np.linspace(0, 48, 12, dtype=np.float32)


def curves(n):
    rh = rng.uniform(0.55, 0.85, n)              # relative humidity
    tc = rng.uniform(18, 30, n)                  # deg C
    rate = 0.04 * np.exp(3.0 * (rh - 0.7)) * np.exp(0.05 * (tc - 24))
    hmax = 6.0 + 2.5 * (rh - 0.7) / 0.15 - 0.8 * (tc - 24) / 6
    lag = 4 + 6 * (0.85 - rh)
    t = np.clip(HOURS[None, :] - lag[:, None], 0, None)
    h = hmax[:, None] * (1 - np.exp(-rate[:, None] * t))
    return (h + 0.08 * rng.normal(size=h.shape)).astype(np.float32)


train = curves(1536)
test = curves(256)
mu, sd = train.mean(0), train.std(0) + 1e-3
train_n = mx.array((train - mu) / sd)
test_n = mx.array((test - mu) / sd)
ref_mse = float(np.mean(((test - mu) / sd) ** 2))   # predicting the mean curve


class CureVAE(nn.Module):
    def __init__(self, d=12, h=48, z=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, d))

    def __call__(self, x, key):
        e = self.enc(x)
        m, lv = self.mu(e), self.logvar(e)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape, key=key)
        return self.dec(zs), m, lv


def objective(model, x, key, beta):
    xr, m, lv = model(x, key)
    rec = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1))
    return rec + beta * kl, (rec, kl)


mx.random.seed(3)
model = CureVAE()
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-4)
vg = nn.value_and_grad(model, lambda mdl, x, k, b: objective(mdl, x, k, b)[0])

EPOCHS, BS = 40, 64
nb = train.shape[0] // BS
key = mx.random.key(11)
first_grads_checked = False
for ep in range(1, EPOCHS + 1):
    beta = min(1.0, (ep - 1) / (EPOCHS // 2))
    perm = mx.array(rng.permutation(train.shape[0]))
    acc = 0.0
    for b in range(nb):
        key, sub = mx.random.split(key)
        xb = train_n[perm[b * BS:(b + 1) * BS]]
        loss, grads = vg(model, xb, sub, mx.array(beta))
        if not first_grads_checked:
            gn = {k: float(mx.linalg.norm(v).item()) for k, v in tree_flatten(grads)}
            print(json.dumps({"audit": "grad_norms", "zero": [k for k, v in gn.items() if v == 0.0],
                              "min": round(min(gn.values()), 6), "n": len(gn)}))
            first_grads_checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
    if ep % 4 == 0 or ep == 1:
        key, sub = mx.random.split(key)
        total, (rec, kl) = objective(model, test_n, sub, mx.array(beta))
        mrec = float(rec.item()) / 12
        print(json.dumps({"ep": ep, "beta": round(beta, 3), "train_obj": round(acc / nb, 4),
                          "test_obj": round(total.item(), 4), "rec_sum": round(rec.item(), 4),
                          "kl_nats": round(kl.item(), 4), "rec_mse": round(mrec, 4),
                          "ref_mse_meancurve": round(ref_mse, 4)}))

# final: deterministic reconstruction through the mean path, in hardness units
e = model.enc(test_n)
xr = model.dec(model.mu(e))
rmse_units = math.sqrt(float(mx.mean(((xr - test_n) * mx.array(sd)) ** 2).item()))
print(json.dumps({"final": True, "rmse_hardness_units": round(rmse_units, 4),
                  "ref_rmse_meancurve": round(float(np.sqrt(np.mean((test - mu) ** 2))), 4)}))
