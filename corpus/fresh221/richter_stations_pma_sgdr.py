"""Local magnitude (ML) of small earthquakes from the unordered, variable-size
set of station amplitude picks that recorded them.

Per-station encoder -> pooling by multi-head attention (one learned seed query,
padded stations masked out) -> magnitude head.  AdamW with warm restarts: every
cycle starts again from lr = 0 with a short linear warm-up, then cosine decay.
Logs JSON lines.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
MAX_ST = 12


def make_events(n):
    ml = rng.uniform(1.5, 5.5, n)
    feats = np.zeros((n, MAX_ST, 5), np.float32)
    valid = np.zeros((n, MAX_ST), bool)
    formula = np.zeros(n)
    for i in range(n):
        k = rng.integers(3, MAX_ST + 1)
        d = rng.uniform(10, 300, k)
        az = rng.uniform(0, 2 * np.pi, k)
        site = rng.normal(0, 0.18, k)  # station corrections, unknown to the model
        loga = ml[i] - 1.11 * np.log10(d) - 0.00189 * d + 2.09 + site
        feats[i, :k] = np.stack([np.log10(d) - 2, d / 100, loga, np.sin(az), np.cos(az)], 1)
        valid[i, :k] = True
        # classical estimate (Hutton & Boore style), averaged over stations
        formula[i] = np.mean(loga + 1.11 * np.log10(d) + 0.00189 * d - 2.09)
    # junk in the padded slots: the mask must make it irrelevant
    feats[~valid] = rng.normal(0, 3, (int((~valid).sum()), 5))
    return feats, valid, ml.astype(np.float32), formula


Xtr, Vtr, Ytr, _ = make_events(1600)
Xva, Vva, Yva, Fva = make_events(320)
ref_mean = float(np.sqrt(np.mean((Yva - Ytr.mean()) ** 2)))
ref_formula = float(np.sqrt(np.mean((Yva - Fva) ** 2)))
Xva_m, Vva_m, Yva_m = mx.array(Xva), mx.array(Vva), mx.array(Yva)


class StationPool(nn.Module):
    def __init__(self, d=48, heads=4):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(5, d), nn.GELU(), nn.Linear(d, d))
        self.seed = mx.random.normal((1, 1, d)) * 0.1
        self.attn = nn.MultiHeadAttention(d, heads)
        self.rho = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))

    def __call__(self, x, valid):
        h = self.phi(x)
        bias = mx.where(valid, 0.0, -1e9)[:, None, None, :]
        q = mx.broadcast_to(self.seed, (x.shape[0], 1, h.shape[-1]))
        pooled = self.attn(q, h, h, mask=bias)[:, 0]
        return self.rho(pooled).squeeze(-1) + 3.5


model = StationPool()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
CYCLES = [120, 240, 240]
WARM = 15
PEAK = 3e-3


def lr_at(t_in_cycle, cycle_len):
    if t_in_cycle < WARM:
        return PEAK * t_in_cycle / WARM  # exactly 0 at the first step of every cycle
    p = (t_in_cycle - WARM) / (cycle_len - WARM)
    return 0.5 * PEAK * (1 + math.cos(math.pi * p))


def loss_fn(m, x, v, y):
    return mx.mean((m(x, v) - y) ** 2)


vg = nn.value_and_grad(model, loss_fn)

# gradient reach check on one batch
_, g0 = vg(model, mx.array(Xtr[:64]), mx.array(Vtr[:64]), mx.array(Ytr[:64]))
dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).sum()) == 0.0]
print(json.dumps({"event": "grad_check", "n_params": len(tree_flatten(g0)), "zero_grad": dead}))

step = 0
B = 64
for c, clen in enumerate(CYCLES):
    run = 0.0
    for t in range(clen):
        idx = rng.integers(0, len(Xtr), B)
        opt.learning_rate = lr_at(t, clen)
        loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(Vtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
        if (t + 1) % 40 == 0:
            pred = model(Xva_m, Vva_m)
            rmse = mx.sqrt(mx.mean((pred - Yva_m) ** 2)).item()
            print(json.dumps({
                "step": step, "cycle": c, "t": t + 1, "lr": round(float(opt.learning_rate.item()), 6),
                "train_mse": round(run / 40, 4), "val_rmse_ML": round(rmse, 4),
                "ref_mean_rmse": round(ref_mean, 4), "ref_formula_rmse": round(ref_formula, 4),
            }))
            run = 0.0

# audits: order of stations and junk in padded slots must not matter
perm = np.array([np.concatenate([rng.permutation(int(v.sum())), np.arange(int(v.sum()), MAX_ST)]) for v in Vva])
Xp = np.take_along_axis(Xva, perm[..., None], 1)
Xj = Xva.copy()
Xj[~Vva] = rng.normal(0, 3, (int((~Vva).sum()), 5))
base = model(Xva_m, Vva_m)
d_perm = mx.abs(model(mx.array(Xp), Vva_m) - base).max().item()
d_pad = mx.abs(model(mx.array(Xj), Vva_m) - base).max().item()
final = mx.sqrt(mx.mean((base - Yva_m) ** 2)).item()
print(json.dumps({"event": "audit", "perm_max_abs_diff": d_perm, "pad_junk_max_abs_diff": d_pad}))
print(json.dumps({"event": "summary", "val_rmse_ML": round(final, 4), "ref_mean_rmse": round(ref_mean, 4),
                  "ref_formula_rmse": round(ref_formula, 4), "steps": step}))
