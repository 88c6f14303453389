"""Float-glass line: thickness profiles across the glass ribbon -> beta-VAE.

Each gauge scan across the ribbon gives 32 thickness readings (um, nominal 4 mm).
We learn a small latent model of profile shapes (top-roller bow, wedge, thick
bulb edges, tin-bath heater streaks) so that odd scans can be flagged later. KL weight is warmed up, so the training loss
climbs for a while on purpose; model selection uses the full (beta=1) bound on
held-out scans, with early stopping and restore.
"""
import json
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

P = 32
LATENT = 4
UM_TARGET, UM_SCALE = 4000.0, 25.0

rs = np.random.default_rng(2024)


def scans(n):
    u = np.linspace(-1, 1, P)
    mean = UM_TARGET + rs.normal(0, 8.0, (n, 1))
    bow = rs.normal(0, 12.0, (n, 1)) * (u ** 2 - 1 / 3)          # top-roller bow
    wedge = rs.normal(0, 7.0, (n, 1)) * u
    bulb = rs.gamma(2.0, 6.0, (n, 1)) * (np.abs(u) ** 6)         # thick bulb edges
    pos = rs.uniform(-0.9, 0.9, (n, 1))
    streak = rs.normal(0, 15.0, (n, 1)) * np.exp(-((u - pos) ** 2) / 0.006) * (rs.random((n, 1)) < 0.5)
    g = mean + bow + wedge + bulb + streak + rs.normal(0, 2.5, (n, P))  # gauge noise 2.5 um
    return g.astype(np.float32)


train = mx.array((scans(2400) - UM_TARGET) / UM_SCALE)
val = mx.array((scans(400) - UM_TARGET) / UM_SCALE)


class RibbonVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(P, 96), nn.GELU(), nn.Linear(96, 64), nn.GELU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 96), nn.GELU(),
                                 nn.Linear(96, P))

    def __call__(self, x, sample=True):
        h = self.enc(x)
        mu, logvar = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape) if sample else mu
        return self.dec(z), mu, logvar


NOISE_VAR = 0.1  # Gaussian decoder variance in scaled units


def terms(model, x):
    xh, mu, logvar = model(x)
    rec = (0.5 * ((xh - x) ** 2).sum(-1) / NOISE_VAR).mean()
    kl = (-0.5 * (1 + logvar - mu ** 2 - mx.exp(logvar)).sum(-1)).mean()
    return rec, kl


def objective(model, x, beta):
    rec, kl = terms(model, x)
    return rec + beta * kl, (rec, kl)


mx.random.seed(7)
model = RibbonVAE()
opt = optim.RMSprop(learning_rate=6e-4, alpha=0.95)
vg = nn.value_and_grad(model, objective)

# sanity: gradients reach every tensor (beta > 0 so the KL path is live too)
(_, _), g = vg(model, train[:128], mx.array(0.5))
dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
sys.stderr.write(f"grad check: {len(tree_flatten(g))} tensors, dead={dead}\n")

EPOCHS, BS, WARM_EPOCHS, PATIENCE = 60, 64, 24, 6
best_val, best_ep, best_params, bad = float("inf"), -1, None, 0
t0 = time.time()
for ep in range(EPOCHS):
    beta = min(1.0, ep / WARM_EPOCHS)
    order = mx.array(np.random.default_rng(ep).permutation(train.shape[0]))
    tot = rec_s = kl_s = 0.0
    nb = 0
    for i in range(0, train.shape[0], BS):
        xb = train[order[i:i + BS]]
        (loss, (rec, kl)), grads = vg(model, xb, mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, rec, kl)
        tot += loss.item(); rec_s += rec.item(); kl_s += kl.item(); nb += 1
    vrec, vkl = terms(model, val)
    xh, _, _ = model(val, sample=False)
    rmse_um = float(mx.sqrt(((xh - val) ** 2).mean())) * UM_SCALE
    nelbo = float(vrec + vkl)
    rec_ = {"epoch": ep, "beta": round(beta, 3), "loss": round(tot / nb, 3), "rec": round(rec_s / nb, 3),
            "kl_nats": round(kl_s / nb, 3), "val_nelbo": round(nelbo, 3), "val_rmse_um": round(rmse_um, 3)}
    if beta >= 1.0:
        if nelbo < best_val - 1e-3:
            best_val, best_ep, bad = nelbo, ep, 0
            best_params = model.trainable_parameters()
            rec_["best"] = True
        else:
            bad += 1
    print(json.dumps(rec_), flush=True)
    if bad >= PATIENCE:
        print(json.dumps({"event": "early_stop", "epoch": ep, "restore_epoch": best_ep}))
        break

if best_params is not None:
    model.update(best_params)
    mx.eval(model.parameters())
vrec, vkl = terms(model, val)
xh, _, _ = model(val, sample=False)
rmse_um = float(mx.sqrt(((xh - val) ** 2).mean())) * UM_SCALE
flat_rmse = float(mx.sqrt(((val - val.mean(-1, keepdims=True)) ** 2).mean())) * UM_SCALE
print(json.dumps({"event": "final", "restored_epoch": best_ep, "val_nelbo": round(float(vrec + vkl), 3),
                  "val_rmse_um": round(rmse_um, 3), "flat_profile_rmse_um": round(flat_rmse, 3),
                  "gauge_noise_um": 2.5, "seconds": round(time.time() - t0, 1)}))
