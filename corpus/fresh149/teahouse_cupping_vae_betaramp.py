"""Tea cupping lab: learn a 2-d latent map of leaf assays with a small VAE.

Each synthetic sample is a 10-value assay of a brewed tea (catechins, theaflavins,
thearubigins, caffeine, L-theanine, moisture, colour L*, a*, b*, astringency score),
generated from three hidden processing styles (green / oolong / black) plus an
oxidation level.  The KL weight is ramped from 0 to 1, so the printed total loss
climbs while the ramp is on; the learning rate starts at exactly 0 (linear warm-up).
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N, D, Z = 1800, 10, 2
style = rng.integers(0, 3, N)
oxid = np.clip(np.array([0.05, 0.45, 0.9])[style] + 0.08 * rng.standard_normal(N), 0, 1)
caff = 0.5 + 0.25 * rng.standard_normal(N)
base = np.stack([
    3.0 * (1 - oxid) ** 1.5,          # catechins
    2.0 * np.sin(math.pi * oxid),     # theaflavins peak mid-oxidation
    2.5 * oxid ** 2,                  # thearubigins
    caff,                             # caffeine
    1.2 - 0.6 * oxid + 0.3 * caff,    # theanine
    0.3 * rng.standard_normal(N),     # moisture (nuisance)
    80 - 45 * oxid,                   # colour L*
    -8 + 30 * oxid ** 1.2,            # colour a*
    20 + 25 * np.sin(2.5 * oxid),     # colour b*
    1.5 * (1 - oxid) + caff,          # astringency
], axis=1)
X = base + 0.1 * base.std(0) * rng.standard_normal(base.shape)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
perm = rng.permutation(N)
Xtr, Xva = mx.array(X[perm[:1500]]), mx.array(X[perm[1500:]])


class CuppingVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mu = nn.Linear(48, Z)
        self.logvar = nn.Linear(48, Z)
        self.dec = nn.Sequential(nn.Linear(Z, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, D))

    def __call__(self, x):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8, 4)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape)
        return self.dec(z), mu, lv


def losses(model, x, beta):
    xr, mu, lv = model(x)
    recon = mx.mean(mx.sum((xr - x) ** 2, axis=1))
    kl = mx.mean(-0.5 * mx.sum(1 + lv - mu ** 2 - mx.exp(lv), axis=1))
    return recon + beta * kl, (recon, kl)


def total(model, x, beta):
    return losses(model, x, beta)[0]


mx.random.seed(3)
model = CuppingVAE()
mx.eval(model.parameters())
STEPS, WARM, RAMP, BS = 900, 60, 500, 100
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, STEPS - WARM, 2e-4)], [WARM]
)
opt = optim.Adamax(learning_rate=sched)
vg = nn.value_and_grad(model, total)

# what a "predict the column mean" cupper would score (per-sample summed squared error)
baseline_recon = float(mx.mean(mx.sum(Xva ** 2, axis=1)).item())

order = np.arange(Xtr.shape[0])
step = 0
while step < STEPS:
    rng.shuffle(order)
    for i in range(0, len(order), BS):
        if step >= STEPS:
            break
        beta = min(1.0, step / RAMP)
        xb = Xtr[mx.array(order[i:i + BS])]
        lr_now = float(opt.learning_rate.item()) if step else 0.0
        loss, grads = vg(model, xb, beta)
        if step == 0:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if float(mx.abs(g).max().item()) > 0)
            print(json.dumps({"audit": "grad", "tensors": len(flat), "nonzero": nz}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == STEPS - 1:
            _, (r, k) = losses(model, Xva, beta)
            print(json.dumps({
                "step": step, "lr": round(lr_now, 6), "beta": round(beta, 3),
                "train_total": round(loss.item(), 4), "val_recon": round(r.item(), 4),
                "val_kl_nats": round(k.item(), 4), "ref_recon_meanpred": round(baseline_recon, 4),
            }))
        step += 1

_, mu_va, _ = model(Xva)
r_final, k_final = losses(model, Xva, 1.0)[1]
sty_va = style[perm[1500:]]
mu_np = np.array(mu_va)
cent = np.stack([mu_np[sty_va == s].mean(0) for s in range(3)])
pred = np.argmin(((mu_np[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
print(json.dumps({
    "summary": "done", "val_recon": round(r_final.item(), 4), "val_kl_nats": round(k_final.item(), 4),
    "ref_recon_meanpred": round(baseline_recon, 4),
    "recon_vs_ref_pct": round(100 * r_final.item() / baseline_recon, 1),
    "style_centroid_acc_pct": round(100 * float((pred == sty_va).mean()), 1),
}))
