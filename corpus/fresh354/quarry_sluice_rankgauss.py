"""Gravel wash plant: fines washed out per tonne (kg/t) from shift records.

Tabular regression. Numeric readings are rank-gauss normalised with
train-only quantiles (missing readings become the train median rank plus
a gap flag), then fed through learned periodic embeddings (sin/cos of
learned frequencies per reading). Stage 'settle' keeps the frequencies
held constant on purpose; stage 'open' lets them move with a fresh optimiser.
Early stopping per stage with the best weights restored.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TR, N_VA = 8000, 2000
N = N_TR + N_VA
F = 6
NOISE = 0.6

# ------------- synthetic shift records -------------
feed_tph = rng.lognormal(4.6, 0.35, N)             # tonnes per hour
water_ratio = rng.gamma(6.0, 0.5, N)               # m3 water per tonne
clay_pct = np.clip(rng.beta(2, 6, N) * 40, 0, None)
screen_mm = rng.choice([2.0, 4.0, 6.0, 8.0], N)
pump_bar = rng.normal(3.0, 0.6, N)
rain_mm = rng.exponential(3.0, N)

y = (
    4.0
    + 0.18 * clay_pct
    + 2.0 * np.sin(water_ratio * 1.3)
    - 0.9 * np.log(feed_tph / 100)
    + 0.35 * screen_mm
    + 0.8 * np.tanh(pump_bar - 3)
    + 0.5 * np.log1p(rain_mm)
    + rng.normal(0, NOISE, N)
)
X = np.stack([feed_tph, water_ratio, clay_pct, screen_mm, pump_bar, rain_mm], 1)
X[rng.random(N) < 0.10, 2] = np.nan   # lab clay test not done
X[rng.random(N) < 0.06, 4] = np.nan   # pump gauge offline

idx = rng.permutation(N)
tr, va = idx[:N_TR], idx[N_TR:]

# ------------- rank-gauss (train-only) -------------
grid = np.linspace(0.001, 0.999, 257)
qs = [np.nanquantile(X[tr, j], grid) for j in range(F)]


def rank_gauss(Xs):
    out = np.zeros(Xs.shape, np.float32)
    flags = np.zeros(Xs.shape, np.float32)
    for j in range(F):
        col = Xs[:, j]
        miss = np.isnan(col)
        u = np.interp(np.where(miss, np.nanmedian(X[tr, j]), col), qs[j], grid,
                      left=grid[0], right=grid[-1])
        out[:, j] = u
        flags[:, j] = miss
    z = np.array(mx.erfinv(mx.array(2 * out - 1)) * np.sqrt(2.0))
    return z.astype(np.float32), flags


Ztr, Gtr = rank_gauss(X[tr])
Zva, Gva = rank_gauss(X[va])
y_mu, y_sd = y[tr].mean(), y[tr].std()
Ytr = ((y[tr] - y_mu) / y_sd).astype(np.float32)
Yva = ((y[va] - y_mu) / y_sd).astype(np.float32)


class PeriodicEmbed(nn.Module):
    def __init__(self, n_feat, k):
        super().__init__()
        self.freq = mx.random.normal((n_feat, k)) * 0.8
        self.proj = nn.Linear(2 * k, 8)

    def __call__(self, z):
        a = 2 * np.pi * z[..., None] * self.freq          # (B, F, k)
        e = mx.concatenate([mx.sin(a), mx.cos(a)], axis=-1)
        return nn.relu(self.proj(e))                      # (B, F, 8)


class WashNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = PeriodicEmbed(F, 12)
        self.mlp = nn.Sequential(nn.Linear(F * 8 + F, 96), nn.GELU(),
                                 nn.Linear(96, 48), nn.GELU(), nn.Linear(48, 1))

    def __call__(self, z, g):
        e = self.embed(z).reshape(z.shape[0], -1)
        return self.mlp(mx.concatenate([e, g], axis=1)).squeeze(-1)


def loss_fn(model, z, g, t):
    return nn.losses.mse_loss(model(z, g), t)


model = WashNet()
mx.eval(model.parameters())
Z_tr, G_tr, Y_tr = mx.array(Ztr), mx.array(Gtr), mx.array(Ytr)
Z_va, G_va, Y_va = mx.array(Zva), mx.array(Gva), mx.array(Yva)


def val_rmse_kg():
    mse = nn.losses.mse_loss(model(Z_va, G_va), Y_va).item()
    return float(np.sqrt(mse) * y_sd)


base_rmse = float(np.sqrt(np.mean((y[va] - y_mu) ** 2)))
print(f"shifts: {N_TR} train / {N_VA} held-out; target kg/t mean {y_mu:.2f}, sd {y_sd:.2f}")
print(f"held-out rmse references: predict-mean {base_rmse:.3f} kg/t, noise floor {NOISE:.3f} kg/t")

BS = 100
SPE = N_TR // BS
t0 = time.time()
for stage, epochs, peak, warm in [("settle", 10, 2e-3, 80), ("open", 10, 6e-4, 40)]:
    if stage == "settle":
        model.embed.freeze(keys=["freq"])
    else:
        model.embed.unfreeze(keys=["freq"])
    freq0 = np.array(model.embed.freq)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    total = epochs * SPE
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm])
    opt = optim.Adam(learning_rate=sched)
    lg = nn.value_and_grad(model, loss_fn)
    best, best_w, wait, PAT = float("inf"), None, 0, 3
    print(f"== stage {stage}: trainable {n_tr}, lr 0 -> {peak:g} over {warm} steps, step counter from 0")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TR))
        tot = 0.0
        for k in range(SPE):
            bi = perm[k * BS:(k + 1) * BS]
            loss, grads = lg(model, Z_tr[bi], G_tr[bi], Y_tr[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        r = val_rmse_kg()
        mark = ""
        if r < best - 1e-4:
            best, wait, mark = r, 0, " *"
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            wait += 1
        print(f"  {stage:6s} ep {ep:2d} step {opt.step.item():4d}  train mse(std) {tot / SPE:.4f}"
              f"  held-out rmse {r:.3f} kg/t{mark}  {time.time() - t0:.1f}s")
        if wait >= PAT:
            print(f"  {stage}: no gain for {PAT} epochs, stopping")
            break
    model.update(best_w)
    mx.eval(model.parameters())
    drift = float(np.abs(np.array(model.embed.freq) - freq0).max())
    print(f"  {stage}: restored best held-out rmse {val_rmse_kg():.3f} kg/t; frequency change {drift:.2e}")

print(f"final held-out rmse {val_rmse_kg():.3f} kg/t vs predict-mean {base_rmse:.3f}, floor {NOISE:.3f}")
