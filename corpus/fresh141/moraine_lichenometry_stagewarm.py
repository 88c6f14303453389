"""Lichenometric dating of moraine ridges.

Field crews measure Rhizocarpon lichens on boulders of a moraine ridge; we
regress the ridge's surface age (years since the ice left it) from the
lichen measurements with a Gaussian NLL head on log-age.

Curriculum: stage "young" trains only on ridges < 150 yr old (Little Ice Age
retreat); stage "full" adds the old ridges (up to 650 yr), where the growth
curve flattens and measurements scatter more, so the loss jumps up at the
stage boundary before it comes down again. Each stage warms the learning rate
up from exactly 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1402)


def make_ridges(n, max_age):
    age = rng.uniform(8.0, max_age, size=n)
    # great-growth phase then slow linear growth (mm)
    lmax = 34.0 * (1.0 - np.exp(-age / 55.0)) + 0.045 * age
    rock = rng.integers(0, 3, size=n)                  # granite / gneiss / schist
    rock_gain = np.array([1.0, 0.88, 1.12])[rock]
    alt = rng.uniform(1400.0, 2300.0, size=n)          # m a.s.l.
    alt_gain = 1.0 - 0.00018 * (alt - 1800.0)
    aspect = rng.uniform(0, 2 * math.pi, size=n)
    sun = 1.0 + 0.08 * np.cos(aspect)
    lmax = lmax * rock_gain * alt_gain * sun
    noise = rng.normal(0, 1.0 + 0.012 * age, size=n)
    largest = np.clip(lmax + noise, 0.5, None)
    five_mean = np.clip(0.86 * largest + rng.normal(0, 0.8 + 0.01 * age, size=n), 0.3, None)
    cover = np.clip(100 * (1 - np.exp(-age / 180.0)) + rng.normal(0, 6, size=n), 0, 100)
    feats = np.stack([
        largest / 30.0, five_mean / 30.0, cover / 100.0,
        np.sin(aspect), np.cos(aspect), (alt - 1800.0) / 300.0,
        (rock == 0).astype(float), (rock == 1).astype(float), (rock == 2).astype(float),
    ], axis=1).astype(np.float32)
    return feats, np.log(age).astype(np.float32), age, largest


Xy, ly, age_y, big_y = make_ridges(1600, 150.0)
Xo, lo, age_o, big_o = make_ridges(2000, 650.0)
keep_old = age_o >= 150.0
Xo, lo, age_o, big_o = Xo[keep_old], lo[keep_old], age_o[keep_old], big_o[keep_old]

# hold out a mixed validation set of both eras
Xv1, lv1, av1, bv1 = make_ridges(300, 150.0)
Xv2, lv2, av2, bv2 = make_ridges(500, 650.0)
m2 = av2 >= 150.0
Xval = np.concatenate([Xv1, Xv2[m2]])
lval = np.concatenate([lv1, lv2[m2]])
aval = np.concatenate([av1, av2[m2]])
bval = np.concatenate([bv1, bv2[m2]])

# classical single-curve reference: invert a linear growth rate of 0.21 mm/yr
# fitted on the young ridges only (what a textbook curve would do)
rate = np.sum(big_y * age_y) / np.sum(age_y * age_y)
ref_mae_val = float(np.mean(np.abs(bval / rate - aval)))


class AgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.log_sd = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1) + 4.0, mx.clip(self.log_sd(h).squeeze(-1), -4.0, 2.0)


def nll_fn(model, x, y):
    mu, log_sd = model(x)
    z = (y - mu) * mx.exp(-log_sd)
    return mx.mean(0.5 * z * z + log_sd + 0.5 * math.log(2 * math.pi))


model = AgeNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
loss_and_grad = nn.value_and_grad(model, nll_fn)

Xval_m, lval_m = mx.array(Xval), mx.array(lval)


def evaluate():
    mu, _ = model(Xval_m)
    nll = nll_fn(model, Xval_m, lval_m)
    pred_age = np.exp(np.array(mu))
    mae = float(np.mean(np.abs(pred_age - aval)))
    old = aval >= 150.0
    return nll.item(), mae, float(np.mean(np.abs(pred_age[old] - aval[old])))


stages = [("young", Xy, ly, 900, 3e-3), ("full", np.concatenate([Xy, Xo]), np.concatenate([ly, lo]), 1500, 2e-3)]
batch = 128
warm = 150
t0 = time.time()
print(json.dumps({"event": "start", "n_young": int(len(ly)), "n_old": int(len(lo)),
                  "n_val": int(len(lval)), "ref_curve_mm_per_yr": round(float(rate), 4),
                  "ref_val_mae_yr": round(ref_mae_val, 2)}))

gstep = 0
for sname, X, L, n_steps, peak in stages:
    Xs, Ls = mx.array(X), mx.array(L)
    n = X.shape[0]
    for step in range(n_steps):
        lr = peak * min(1.0, step / warm) * (0.5 * (1 + math.cos(math.pi * step / n_steps)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, size=batch))
        loss, grads = loss_and_grad(model, Xs[idx], Ls[idx])
        if gstep == 0:
            # audit: every trained tensor must receive gradient
            norms = {k: round(float(mx.linalg.norm(v.reshape(-1)).item()), 5) for k, v in tree_flatten(grads)}
            print(json.dumps({"event": "grad_audit", "zero_grad_tensors": [k for k, v in norms.items() if v == 0.0],
                              "min_norm": min(norms.values()), "n_tensors": len(norms)}))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == n_steps - 1:
            vnll, vmae, vmae_old = evaluate()
            print(json.dumps({"stage": sname, "step": step, "lr": round(lr, 6),
                              "train_nll": round(loss.item(), 4), "val_nll": round(vnll, 4),
                              "val_mae_yr": round(vmae, 2), "val_mae_old_yr": round(vmae_old, 2),
                              "ref_mae_yr": round(ref_mae_val, 2)}))
        gstep += 1

vnll, vmae, vmae_old = evaluate()
print(json.dumps({"event": "done", "val_nll": round(vnll, 4), "val_mae_yr": round(vmae, 2),
                  "ref_mae_yr": round(ref_mae_val, 2), "gain_vs_ref_pct": round(100 * (1 - vmae / ref_mae_val), 1),
                  "wall_s": round(time.time() - t0, 2)}))
