import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

# Pottery kiln log: firing shrinkage (%) of a tile from six batch readings.
# Stage "mean": only the mean head and trunk learn (squared error); the spread
#   head is held frozen at its start value.
# Stage "spread": everything learns with the beta-weighted Gaussian NLL of
#   Seitzer et al. (2022), beta = 0.5; the printed objective is that weighted
#   quantity, while the check columns are the plain Gaussian NLL (nats).

rng = np.random.default_rng(11)


def make_tiles(n):
    clay = rng.uniform(0.0, 1.0, n)          # ball-clay share
    water = rng.normal(22.0, 3.0, n)          # plasticity water %
    peak = rng.normal(1220.0, 40.0, n)        # peak temperature C
    soak = rng.exponential(20.0, n)           # minutes at peak
    grog = rng.uniform(0.0, 0.3, n)           # grog share
    pos = rng.integers(0, 3, n).astype(float) # shelf: bottom/middle/top
    s = (4.0 + 5.0 * clay + 0.18 * (water - 22) + 0.03 * (peak - 1220)
         + 1.2 * np.log1p(soak / 10.0) - 6.0 * grog)
    noise_sd = 0.15 + 0.25 * pos + 0.02 * np.abs(peak - 1220) / 10.0
    y = s + noise_sd * rng.standard_normal(n)
    x = np.stack([clay, water, peak, np.log1p(soak), grog, pos], 1)
    return x.astype(np.float32), y.astype(np.float32), noise_sd.astype(np.float32)


x_tr, y_tr, _ = make_tiles(10000)
x_va, y_va, sd_va = make_tiles(2000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
z_tr, z_va = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd
oracle_nll = float(np.mean(0.5 * np.log(2 * np.pi * (sd_va / y_sd) ** 2) + 0.5))


class ShrinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 80), nn.SiLU(), nn.Linear(80, 80), nn.SiLU())
        self.mean_head = nn.Linear(80, 1)
        self.spread_head = nn.Linear(80, 1)

    def __call__(self, x):
        h = self.trunk(x)
        log_var = mx.clip(self.spread_head(h), -9.0, 5.0)
        return self.mean_head(h).squeeze(-1), log_var.squeeze(-1)


def mean_stage_loss(m, xb, yb):
    mean, _ = m(xb)
    return mx.mean((mean - yb) ** 2)


def spread_stage_loss(m, xb, yb, beta=0.5):
    mean, log_var = m(xb)
    nll = 0.5 * (log_var + (yb - mean) ** 2 * mx.exp(-log_var) + math.log(2 * math.pi))
    weight = mx.stop_gradient(mx.exp(beta * log_var))
    return mx.mean(weight * nll)


X_tr, Z_tr, X_va = mx.array(x_tr), mx.array(z_tr), mx.array(x_va)


def check():
    mean, log_var = model(X_va)
    mean, var = np.array(mean), np.exp(np.array(log_var))
    nll = float(np.mean(0.5 * (np.log(2 * np.pi * var) + (z_va - mean) ** 2 / var)))
    rmse = float(np.sqrt(np.mean((mean - z_va) ** 2))) * y_sd
    inside = float(np.mean(np.abs(z_va - mean) <= 1.645 * np.sqrt(var))) * 100
    return nll, rmse, inside


model = ShrinkNet()
mx.eval(model.parameters())
BATCH = 100
spe = len(x_tr) // BATCH

print(f"kiln: {len(x_tr)} tiles train / {len(x_va)} check; shrinkage sd {y_sd:.2f} %")
print(f"reference: plain-mean rmse {y_sd:.3f} %, oracle check NLL {oracle_nll:+.3f} nats")
n0, r0, i0 = check()
print(f"untrained: check NLL {n0:+.3f}  rmse {r0:.3f} %  inside90 {i0:.1f}%")

stages = [("mean", mean_stage_loss, 8, 2e-3), ("spread", spread_stage_loss, 14, 1e-3)]
t0 = time.perf_counter()
for name, loss_fn, epochs, peak in stages:
    if name == "mean":
        model.spread_head.freeze()
    else:
        model.spread_head.unfreeze()
    frozen_before = np.array(model.spread_head.weight).copy()
    opt = optim.AdamW(learning_rate=optim.cosine_decay(peak, epochs * spe, peak * 0.05), weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)
    n_train = len(tree_flatten(model.trainable_parameters()))
    print(f"== stage {name}: {n_train} trainable tensors, {epochs} epochs, AdamW peak {peak:g}")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(x_tr)))
        tot = 0.0
        for b in range(spe):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, g = vg(model, X_tr[idx], Z_tr[idx])
            if ep == 1 and b == 0:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                print(f"   first step: {len(leaves)} gradient tensors, zero: {zero if zero else 'none'}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
        if ep in (1, 2) or ep % 4 == 0 or ep == epochs:
            nll, rmse, inside = check()
            print(f"   [{name:>6}] ep {ep:2d}  objective {tot / spe:+.4f}  check NLL {nll:+.3f}"
                  f"  rmse {rmse:.3f} %  inside90 {inside:5.1f}%  {time.perf_counter() - t0:5.1f}s")
    if name == "mean":
        moved = float(np.abs(np.array(model.spread_head.weight) - frozen_before).max())
        print(f"   spread head max change during mean stage: {moved:.1e}")

nll, rmse, inside = check()
print(f"done: check NLL {nll:+.3f} (oracle {oracle_nll:+.3f}), rmse {rmse:.3f} % vs plain-mean {y_sd:.3f} %,"
      f" inside90 {inside:.1f}%")
