"""Allotment society: storm/frost damage claims per plot-season (EUR).

Most plot-seasons claim nothing (~70 %). A hurdle model with entity
embeddings for site, crop and month: a logistic gate for "any claim" and a
Gamma density for the amount of a claim, with the Gamma shape learned per
crop (an embedding of width 1). log Gamma(k) is written in MLX (shift by 6 +
Stirling series) so the shape gets gradients.
Training runs in two sittings: after epoch 5 everything is written to
disk, then a fresh model and optimizer are built, loaded and continued.
Reports look like Keras progress lines and only appear now and then.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)

# ----------------------------------------------------------------- data
N_SITE, N_CROP, N_MONTH = 40, 9, 12
N = 12000
site = rng.integers(0, N_SITE, N)
crop = rng.integers(0, N_CROP, N)
month = rng.integers(0, N_MONTH, N)
area = rng.normal(0, 1, N)       # plot area (standardised)
slope = rng.normal(0, 1, N)      # slope
tenure = rng.normal(0, 1, N)     # tenant years
frost = rng.normal(0, 1, N)      # frost nights in the season

site_g = rng.normal(0, 0.5, N_SITE)
site_a = rng.normal(0, 0.3, N_SITE)
crop_g = rng.normal(0, 0.4, N_CROP)
crop_a = rng.normal(0, 0.4, N_CROP)
shape_true = rng.uniform(1.2, 5.0, N_CROP)
season = np.cos(2 * np.pi * (month - 1) / 12)

gate_logit = -1.0 + site_g[site] + crop_g[crop] + 0.6 * season + 0.7 * frost - 0.3 * tenure + 0.2 * slope
p_claim = 1 / (1 + np.exp(-gate_logit))
log_mu = (math.log(2.5) + site_a[site] + crop_a[crop] + 0.35 * area
          + 0.25 * np.maximum(frost, 0) + 0.15 * slope)      # mean in hundreds of EUR
mu = np.exp(log_mu)
k = shape_true[crop]
claim = rng.random(N) < p_claim
amount = np.where(claim, rng.gamma(k, mu / k), 0.0).astype(np.float32)

cats = np.stack([site, crop, month], axis=1).astype(np.int32)
nums = np.stack([area, slope, tenure, frost], axis=1).astype(np.float32)

N_TR, N_VA = 9000, 3000
tr_s, va_s = slice(0, N_TR), slice(N_TR, N)
def arrs(s):
    return mx.array(cats[s]), mx.array(nums[s]), mx.array(amount[s])
tr, va = arrs(tr_s), arrs(va_s)


# --------------------------------------------------- log-gamma in MLX
def lgamma_mx(x):
    """log Gamma(x) for x > 0: recurrence up to x + 6, then Stirling."""
    shift = mx.log(x) + mx.log(x + 1) + mx.log(x + 2) + mx.log(x + 3) + mx.log(x + 4) + mx.log(x + 5)
    z = x + 6.0
    zi = 1.0 / z
    zi2 = zi * zi
    st = ((z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi)
          + zi * (1 / 12 - zi2 * (1 / 360 - zi2 * (1 / 1260 - zi2 / 1680))))
    return st - shift


def hurdle_nll_np(p, mu_, k_, yv):
    pos = yv > 0
    out = np.where(pos, -np.log(p), -np.log1p(-p))
    lg = np.array([math.lgamma(v) for v in k_])
    ll_amt = (k_ * np.log(k_ / mu_) + (k_ - 1) * np.log(np.where(pos, yv, 1.0))
              - k_ * np.where(pos, yv, 0.0) / mu_ - lg)
    return float(np.mean(out - np.where(pos, ll_amt, 0.0)))


# ---------------------------------------------------------------- model
class ClaimHurdle(nn.Module):
    def __init__(self):
        super().__init__()
        self.site = nn.Embedding(N_SITE, 6)
        self.crop = nn.Embedding(N_CROP, 4)
        self.month = nn.Embedding(N_MONTH, 3)
        self.log_shape = nn.Embedding(N_CROP, 1)
        self.log_shape.weight = mx.zeros((N_CROP, 1))
        self.trunk = nn.Sequential(nn.Linear(6 + 4 + 3 + 4, 64), nn.SiLU(), nn.Linear(64, 32), nn.SiLU())
        self.gate = nn.Linear(32, 1)
        self.amount = nn.Linear(32, 1)

    def __call__(self, c, x):
        h = mx.concatenate([self.site(c[:, 0]), self.crop(c[:, 1]), self.month(c[:, 2]), x], axis=1)
        h = self.trunk(h)
        gate_logit = self.gate(h).squeeze(-1)
        log_mu = self.amount(h).squeeze(-1)
        k_ = mx.exp(self.log_shape(c[:, 1]).squeeze(-1)) + 0.05
        return gate_logit, log_mu, k_


def hurdle_nll(model, c, x, yv):
    gate_logit, log_mu, k_ = model(c, x)
    pos = (yv > 0).astype(mx.float32)
    gate_term = nn.losses.binary_cross_entropy(gate_logit, pos, with_logits=True, reduction="none")
    y_safe = mx.where(yv > 0, yv, 1.0)
    ll_amt = (k_ * (mx.log(k_) - log_mu) + (k_ - 1) * mx.log(y_safe)
              - k_ * y_safe * mx.exp(-log_mu) - lgamma_mx(k_))
    return mx.mean(gate_term - pos * ll_amt)


def evaluate(model, data):
    c, x, yv = data
    g, lm, _ = model(c, x)
    nll = hurdle_nll(model, c, x, yv).item()
    expected = mx.sigmoid(g) * mx.exp(lm)
    mae = mx.mean(mx.abs(expected - yv)).item()
    return nll, mae


# ------------------------------------------------------- references
y_tr, y_va = amount[tr_s], amount[va_s]
p0 = (y_tr > 0).mean()
pos_tr = y_tr[y_tr > 0]
m0 = pos_tr.mean()
k0 = m0 ** 2 / pos_tr.var()
ref_flat = hurdle_nll_np(np.full(N - N_TR, p0), np.full(N - N_TR, m0), np.full(N - N_TR, k0), y_va)
ref_true = hurdle_nll_np(p_claim[va_s], mu[va_s], k[va_s], y_va)
mae_flat = float(np.mean(np.abs(p0 * m0 - y_va)))
mae_true = float(np.mean(np.abs(p_claim[va_s] * mu[va_s] - y_va)))
xs = mx.array(np.linspace(0.3, 9.0, 60, dtype=np.float32))
lg_err = float(np.max(np.abs(np.array(lgamma_mx(xs)) - np.array([math.lgamma(v) for v in np.array(xs)]))))

print(f"plot-seasons: {N_TR} train / {N - N_TR} valid, zero share {1 - p0:.3f}, "
      f"mean claim {m0 * 100:.0f} EUR")
print(f"lgamma check on [0.3, 9]: max abs error {lg_err:.1e}")
print(f"valid references: flat hurdle nll {ref_flat:.4f}  true-parameter nll {ref_true:.4f}  "
      f"flat mae {mae_flat:.4f}  true-parameter mae {mae_true:.4f}  (amounts in hundreds of EUR)")

# ------------------------------------------------------------- training
BATCH = 200
SPE = N_TR // BATCH
EPOCHS, SPLIT_AT = 12, 5
REPORT = {1, 3, 5, 6, 9, 12}
WARM = 60


def make_schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.step_decay(3e-3, 0.5, 3 * SPE)], [WARM])


def build():
    m = ClaimHurdle()
    o = optim.Adam(learning_rate=make_schedule())
    return m, o


t0 = time.perf_counter()


def fit(model, opt, first_epoch, last_epoch, order_rng):
    lg = nn.value_and_grad(model, hurdle_nll)
    for ep in range(first_epoch, last_epoch + 1):
        perm = order_rng.permutation(N_TR)
        tot = 0.0
        for s in range(SPE):
            idx = mx.array(perm[s * BATCH:(s + 1) * BATCH])
            loss, grads = lg(model, tr[0][idx], tr[1][idx], tr[2][idx])
            if ep == 1 and s == 0:
                w0 = model.gate.weight
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state)
                print(f"first update: lr {float(make_schedule()(mx.array(0))):.1e}, "
                      f"gate weight change {mx.abs(model.gate.weight - w0).max().item():.1e}")
            else:
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if ep in REPORT:
            nll, mae = evaluate(model, va)
            shapes = np.exp(np.array(model.log_shape.weight).ravel()) + 0.05
            print(f"Epoch {ep}/{EPOCHS} - {SPE}/{SPE} - {time.perf_counter() - t0:.1f}s - "
                  f"loss: {tot / SPE:.4f} - val_nll: {nll:.4f} - val_mae: {mae:.4f} - "
                  f"lr: {opt.learning_rate.item():.2e} - shape_range: {shapes.min():.2f}..{shapes.max():.2f}")


order_rng = np.random.default_rng(3)
model, opt = build()
mx.eval(model.parameters())
fit(model, opt, 1, SPLIT_AT, order_rng)

with tempfile.TemporaryDirectory() as d:
    model.save_weights(os.path.join(d, "weights.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"epoch": SPLIT_AT}, f)
    probe = model(va[0][:8], va[1][:8])[0]
    mx.eval(probe)

    model, opt = build()
    model.load_weights(os.path.join(d, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        start = json.load(f)["epoch"] + 1
    drift = mx.abs(model(va[0][:8], va[1][:8])[0] - probe).max().item()
    print(f"resumed from disk at epoch {start}, optimizer step {opt.step.item()}, "
          f"lr {opt.learning_rate.item():.2e}, output drift {drift:.1e}")

fit(model, opt, start, EPOCHS, order_rng)

nll, mae = evaluate(model, va)
shapes = np.exp(np.array(model.log_shape.weight).ravel()) + 0.05
corr = float(np.corrcoef(shapes, shape_true)[0, 1])
print(f"done: val_nll {nll:.4f} (flat {ref_flat:.4f}, true {ref_true:.4f}) - "
      f"val_mae {mae:.4f} (flat {mae_flat:.4f}, true {mae_true:.4f}) - "
      f"crop shape corr with truth {corr:.3f} - {time.perf_counter() - t0:.1f}s")
