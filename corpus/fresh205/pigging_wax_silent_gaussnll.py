# Wax build-up estimator for a crude export line.
# Each row is one pig run: the pig's calliper reports how many mm of wax it
# scraped off. We want a mean AND an uncertainty, so the head predicts
# (mu, sigma) and is trained with a Gaussian negative log-likelihood.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_RUNS = 1400

oil_temp = rng.uniform(25.0, 60.0, N_RUNS)          # degC at inlet
wall_temp = oil_temp - rng.uniform(2.0, 25.0, N_RUNS)  # degC, seabed cooled
flow = rng.uniform(0.4, 2.5, N_RUNS)               # m/s
days = rng.integers(3, 60, N_RUNS).astype(np.float64)  # days since last pig
wat_gap = rng.uniform(-5.0, 15.0, N_RUNS)          # WAT minus wall temp, degC
water_cut = rng.uniform(0.0, 0.6, N_RUNS)          # fraction

# made-up deposition law: grows with days and the thermal gradient, slowed by
# shear (flow) and water cut; noise grows with the deposit itself
drive = np.clip(wat_gap, 0.0, None) * (oil_temp - wall_temp) / 10.0
rate = 0.012 * drive / (0.6 + flow) * (1.0 - 0.8 * water_cut)
wax_mm = rate * days ** 0.85 + 0.05
noise_sd = 0.04 + 0.18 * wax_mm
wax_mm = np.clip(wax_mm + rng.normal(0.0, 1.0, N_RUNS) * noise_sd, 0.0, None)

X = np.stack([oil_temp, wall_temp, flow, days, wat_gap, water_cut], axis=1)
x_mean, x_std = X.mean(0), X.std(0)
y_mean, y_std = wax_mm.mean(), wax_mm.std()
Xn = ((X - x_mean) / x_std).astype(np.float32)
yn = ((wax_mm - y_mean) / y_std).astype(np.float32)

n_tr = 1100
Xtr, ytr = mx.array(Xn[:n_tr]), mx.array(yn[:n_tr])
Xva, yva = mx.array(Xn[n_tr:]), mx.array(yn[n_tr:])


@mx.custom_function
def soft_scale(z):
    # softplus written so it never overflows: max(z,0) + log1p(exp(-|z|))
    return mx.maximum(z, 0.0) + mx.log1p(mx.exp(-mx.abs(z)))


@soft_scale.vjp
def soft_scale_vjp(primals, cotangent, output):
    z = primals  # single-input function: primals is the array itself
    return cotangent * mx.sigmoid(z)


class WaxHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU()
        )
        self.mu = nn.Linear(48, 1)
        self.s = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        sigma = soft_scale(self.s(h)).squeeze(-1) + 1e-3
        return self.mu(h).squeeze(-1), sigma


def gauss_nll(model, x, y):
    mu, sigma = model(x)
    z = (y - mu) / sigma
    return mx.mean(0.5 * z * z + mx.log(sigma) + 0.5 * math.log(2 * math.pi))


mx.random.seed(5)
model = WaxHead()
TOTAL = 1800
WARM = 200
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)],
    [WARM],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(model, gauss_nll)

# one-off gradient audit before anything moves
_, g0 = vg(model, Xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]

opt.init(model.trainable_parameters())
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = vg(model, xb, yb)
    opt.update(model, grads)
    return loss


print(f"pig-run wax model: {n_tr} train / {N_RUNS - n_tr} holdout runs, "
      f"{TOTAL} steps, batch 64, lr ramps from 0 over {WARM} steps "
      f"(zero-grad leaves at init: {len(dead)})", flush=True)

t0 = time.time()
perm_rng = np.random.default_rng(3)
trace = []
for step in range(TOTAL):
    idx = mx.array(perm_rng.integers(0, n_tr, 64))
    loss = train_step(Xtr[idx], ytr[idx])
    mx.eval(state, loss)
    if step % 150 == 0 or step == TOTAL - 1:
        trace.append((step, float(sched(mx.array(step))), loss.item()))
elapsed = time.time() - t0

# -------- summary (the run prints nothing while it trains) --------
mu, sigma = model(Xva)
va_nll = gauss_nll(model, Xva, yva).item()
pred_mm = np.array(mu) * y_std + y_mean
sig_mm = np.array(sigma) * y_std
true_mm = np.array(yva) * y_std + y_mean
rmse = float(np.sqrt(np.mean((pred_mm - true_mm) ** 2)))
cover = float(np.mean(np.abs(pred_mm - true_mm) <= 1.2816 * sig_mm)) * 100.0

# operator's rule of thumb: wax grows linearly with days since last pig
d_tr, d_va = X[:n_tr, 3], X[n_tr:, 3]
coef = np.polyfit(d_tr, wax_mm[:n_tr], 1)
rule_rmse = float(np.sqrt(np.mean((np.polyval(coef, d_va) - true_mm) ** 2)))

print(f"done in {elapsed:.1f}s")
print(" step |    lr     | batch NLL")
for s, lr, l in trace:
    print(f"{s:5d} | {lr:.2e} | {l:+.4f}")
print(f"holdout NLL (std units) {va_nll:+.4f}")
print(f"holdout RMSE {rmse:.3f} mm   (days-only rule {rule_rmse:.3f} mm)")
print(f"80% band coverage {cover:.1f}%   mean sigma {sig_mm.mean():.3f} mm")
