# Pigeon racing club: a small VAE over GPS speed traces of racing pigeons
# (24 samples per race). Cyclical KL annealing, compiled step, JSON-lines log.
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.RandomState(1904)
N, T, Z = 2400, 24, 3
t = np.linspace(0.0, 1.0, T)
cruise = rs.uniform(1100, 1500, (N, 1))
dip_c = rs.uniform(0.2, 0.8, (N, 1))
dip_d = rs.uniform(0, 320, (N, 1))
sprint = rs.uniform(0, 160, (N, 1))
fatigue = rs.uniform(0, 120, (N, 1))
speed = (cruise - dip_d * np.exp(-0.5 * ((t - dip_c) / 0.08) ** 2)
         + sprint * np.clip((t - 0.8) / 0.2, 0, 1) - fatigue * t
         + rs.normal(0, 15, (N, T)))          # metres per minute
mu, sd = speed[:2000].mean(0), speed[:2000].std(0)
S = ((speed - mu) / sd).astype(np.float32)
tr, va = S[:2000], S[2000:]

# reference: PCA with the same number of components as the latent
U, sv, Vt = np.linalg.svd(tr - tr.mean(0), full_matrices=False)
P = Vt[:Z]
rec_pca = (va - tr.mean(0)) @ P.T @ P + tr.mean(0)
pca_ref = float(0.5 * ((rec_pca - va) ** 2).sum(1).mean())


class TraceVAE(nn.Module):
    def __init__(self, d=T, h=64, z=Z):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.mu = nn.Linear(h, z)
        self.logvar = nn.Linear(h, z)
        self.dec = nn.Sequential(nn.Linear(z, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(),
                                 nn.Linear(h, d))

    def __call__(self, x):
        h = self.enc(x)
        m, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 4.0)
        zs = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape)
        return self.dec(zs), m, lv


def terms(model, x):
    xr, m, lv = model(x)
    recon = 0.5 * mx.sum((xr - x) ** 2, axis=1).mean()
    kl = -0.5 * mx.sum(1 + lv - m * m - mx.exp(lv), axis=1).mean()
    return recon, kl


def loss_fn(model, x, beta):
    recon, kl = terms(model, x)
    return recon + beta * kl, (recon, kl)


mx.random.seed(3)
model = TraceVAE()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

_, g0 = vg(model, mx.array(tr[:128]), mx.array(1.0))
gz = [k for k, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": gz}))

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, beta):
    (loss, (recon, kl)), grads = vg(model, x, beta)
    opt.update(model, grads)
    return loss, recon, kl


ITERS, CYCLE, BS = 2400, 800, 100
xtr = mx.array(tr)
xva = mx.array(va)
print(json.dumps({"event": "start", "train": len(tr), "val": len(va), "latent": Z,
                  "pca3_ref": round(pca_ref, 4), "cycle": CYCLE}))
t0 = time.time()
acc = np.zeros(3)
for it in range(1, ITERS + 1):
    pos = ((it - 1) % CYCLE) / CYCLE
    beta = min(1.0, pos / 0.5)                # ramp 0 -> 1 over half a cycle, then hold
    idx = mx.array(rs.randint(0, len(tr), BS))
    loss, recon, kl = step(xtr[idx], mx.array(beta))
    mx.eval(loss, recon, kl, model.parameters(), opt.state)
    acc += [loss.item(), recon.item(), kl.item()]
    if it % 100 == 0:
        vr, vk = terms(model, xva)
        print(json.dumps({"it": it, "cycle": (it - 1) // CYCLE + 1, "beta": round(beta, 3),
                          "loss": round(acc[0] / 100, 4), "recon": round(acc[1] / 100, 4),
                          "kl": round(acc[2] / 100, 4), "val_recon": round(vr.item(), 4),
                          "val_kl": round(vk.item(), 4), "pca3_ref": round(pca_ref, 4)}))
        acc[:] = 0

# posterior-mean reconstruction on the held-out races, in original units
h = model.enc(xva)
xr = model.dec(model.mu(h))
err_mpm = np.sqrt((((np.array(xr) - va) * sd) ** 2).mean())
vr, vk = terms(model, xva)
print(json.dumps({"event": "done", "secs": round(time.time() - t0, 1),
                  "val_neg_elbo": round(vr.item() + vk.item(), 4),
                  "val_rmse_m_per_min": round(float(err_mpm), 1),
                  "noise_floor_m_per_min": 15.0, "pca3_ref": round(pca_ref, 4)}))
