"""Dishwasher fleet telemetry: a small VAE learns what a healthy wash cycle
looks like; reconstruction error then flags faulty cycles (blocked filter,
weak heater) held out from training.

KL weight is annealed 0 -> 1 over epochs 4..24, so the total objective grows
while beta ramps even though both parts improve.  The train step is compiled
with the model, optimizer and RNG state captured.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s dw-vae | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("dwvae")

rng = np.random.default_rng(2026)
mx.random.seed(11)

FEATS = ["inlet_L", "heater_Wh", "peak_C", "drain_s", "pump_A",
         "turbidity_drop", "cycle_min", "rinse_aid_pct"]


def cycles(n, fault=None):
    prog = rng.choice([0, 1, 2], size=n, p=[0.5, 0.3, 0.2])  # eco / normal / intensive
    load = rng.uniform(0.3, 1.0, n)
    inlet = 9.5 + 2.5 * prog + 3.0 * load + rng.normal(0, 0.5, n)
    target_c = np.array([45.0, 55.0, 65.0])[prog]
    supply_c = rng.normal(15, 3, n)
    heater_eff = np.ones(n)
    drain_res = np.ones(n)
    if fault == "heater":
        heater_eff = rng.uniform(0.45, 0.75, n)
    if fault == "filter":
        drain_res = rng.uniform(1.6, 2.6, n)
    heater = inlet * (target_c - supply_c) * 1.16 * heater_eff + rng.normal(0, 25, n)
    peak = supply_c + (target_c - supply_c) * heater_eff + rng.normal(0, 1.0, n)
    drain = 55 * drain_res * (inlet / 12.0) + rng.normal(0, 4, n)
    pump = 0.9 + 0.35 * drain_res + 0.02 * inlet + rng.normal(0, 0.04, n)
    turb = (0.5 + 0.4 * load) * (0.6 + 0.4 * (peak - 30) / 35) + rng.normal(0, 0.05, n)
    minutes = np.array([180.0, 120.0, 95.0])[prog] + 8 * load + 0.15 * drain + rng.normal(0, 3, n)
    rinse = rng.uniform(5, 100, n)
    return np.stack([inlet, heater, peak, drain, pump, turb, minutes, rinse], 1).astype(np.float32)


train_np = cycles(6000)
val_np = cycles(1000)
audit_ok = cycles(400)
audit_bad = np.concatenate([cycles(200, "heater"), cycles(200, "filter")])
mu, sd = train_np.mean(0), train_np.std(0)


def z(a):
    return mx.array((a - mu) / sd)


Xtr, Xva, Aok, Abad = z(train_np), z(val_np), z(audit_ok), z(audit_bad)
LATENT = 3


class VAE(nn.Module):
    def __init__(self, d=len(FEATS), h=48, k=LATENT):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mu = nn.Linear(h, k)
        self.logvar = nn.Linear(h, k)
        self.dec = nn.Sequential(nn.Linear(k, h), nn.GELU(), nn.Linear(h, h), nn.GELU(),
                                 nn.Linear(h, d))

    def __call__(self, x, sample=True):
        hdn = self.enc(x)
        m, lv = self.mu(hdn), mx.clip(self.logvar(hdn), -8.0, 6.0)
        zz = m + mx.exp(0.5 * lv) * mx.random.normal(m.shape) if sample else m
        return self.dec(zz), m, lv


def parts(model, x, sample=True):
    xr, m, lv = model(x, sample)
    recon = ((xr - x) ** 2).sum(axis=1).mean()
    kl = (-0.5 * (1 + lv - m * m - mx.exp(lv))).sum(axis=1).mean()
    return recon, kl


def objective(model, x, beta):
    recon, kl = parts(model, x)
    return recon + beta * kl, (recon, kl)


model = VAE()
mx.eval(model.parameters())
init_params = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

state = [model.state, opt.state, mx.random.state]
grad_fn = nn.value_and_grad(model, objective)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, beta):
    (loss, (recon, kl)), g = grad_fn(model, x, beta)
    opt.update(model, g)
    return loss, recon, kl


# one-off: every parameter gets gradient
(_, _), g0 = grad_fn(model, Xtr[:256], mx.array(1.0))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, zero-gradient tensors: %s", len(tree_flatten(g0)), dead or "none")

EPOCHS, BS = 36, 200
steps_per_epoch = len(train_np) // BS


def beta_at(ep):
    return float(np.clip((ep - 4) / 20.0, 0.0, 1.0))


t0 = time.time()
for ep in range(1, EPOCHS + 1):
    beta = beta_at(ep)
    perm = mx.array(rng.permutation(len(train_np)))
    tot = rec = kls = 0.0
    for b in range(steps_per_epoch):
        xb = Xtr[perm[b * BS:(b + 1) * BS]]
        loss, recon, kl = train_step(xb, mx.array(beta))
        mx.eval(state, loss, recon, kl)
        tot += loss.item(); rec += recon.item(); kls += kl.item()
    if ep % 3 == 0 or ep == 1:
        vr, vk = parts(model, Xva, sample=False)
        log.info("ep %02d beta=%.2f loss=%.3f recon=%.3f kl=%.3f | val recon=%.3f kl=%.3f",
                 ep, beta, tot / steps_per_epoch, rec / steps_per_epoch,
                 kls / steps_per_epoch, vr.item(), vk.item())


def score(x):
    xr, _, _ = model(x, sample=False)
    return np.array(((xr - x) ** 2).sum(axis=1))


s_ok, s_bad = score(Aok), score(Abad)
# rank-based AUROC (Mann-Whitney)
allv = np.concatenate([s_ok, s_bad])
ranks = allv.argsort().argsort() + 1
auroc = (ranks[len(s_ok):].sum() - len(s_bad) * (len(s_bad) + 1) / 2) / (len(s_ok) * len(s_bad))
thr = np.quantile(score(Xva), 0.95)
log.info("audit: auroc=%.3f (coin flip 0.500) | flagged bad %.1f%% vs healthy %.1f%% at val p95=%.2f",
         auroc, 100 * (s_bad > thr).mean(), 100 * (s_ok > thr).mean(), thr)
for k, v in tree_flatten(model.parameters()):
    if k.endswith("weight"):
        d = np.linalg.norm(np.array(v) - init_params[k]) / (np.linalg.norm(init_params[k]) + 1e-12)
        log.info("check: %-18s |W-W0|/|W0| = %.3f", k, d)
log.info("done in %.1fs, %d optimizer steps", time.time() - t0, EPOCHS * steps_per_epoch)
