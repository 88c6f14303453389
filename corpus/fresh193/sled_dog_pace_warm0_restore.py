"""Sled-dog race planning: predict checkpoint-leg pace (min/km) from trail
and team readings.  Warmup from lr 0, cosine warm restarts, early stopping
that restores the best weights.  Log lines via logging."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s musher: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("musher")

gen = np.random.default_rng(2024)
N = 3000
temp_c = gen.uniform(-35, 0, N)          # air temperature
snow_cm = gen.gamma(2.0, 6.0, N)         # fresh snow depth
dogs = gen.integers(6, 15, N)            # team size
rest_h = gen.uniform(0, 8, N)            # rest before leg
climb_m = gen.uniform(0, 600, N)         # elevation gain on the leg
wind = gen.uniform(0, 50, N)             # headwind km/h
pace = (3.2 + 0.045 * snow_cm + 0.0016 * climb_m + 0.012 * wind
        - 0.06 * (dogs - 10) - 0.08 * np.sqrt(rest_h)
        + 0.0009 * (temp_c + 18) ** 2 + 0.15 * gen.normal(size=N))
X = np.stack([temp_c, snow_cm, dogs, rest_h, climb_m, wind], 1).astype(np.float32)
mu, sd = X[:2200].mean(0), X[:2200].std(0)
X = (X - mu) / sd
y = pace.astype(np.float32)[:, None]
Xtr, ytr = mx.array(X[:2200]), mx.array(y[:2200])
Xva, yva = mx.array(X[2200:]), mx.array(y[2200:])
baseline_mae = float(np.abs(y[2200:] - y[:2200].mean()).mean())

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())

steps_per_epoch = 2200 // 100
warm = optim.linear_schedule(0.0, 4e-3, 2 * steps_per_epoch)
cycle = 12 * steps_per_epoch
def restarts(step):
    s = step % cycle
    return 1e-5 + 0.5 * (4e-3 - 1e-5) * (1 + mx.cos(math.pi * s / cycle))
lr = optim.join_schedules([warm, restarts], [2 * steps_per_epoch])
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)


def mse(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


grad_fn = nn.value_and_grad(model, mse)
best, best_w, bad, patience = float("inf"), None, 0, 9
log.info("legs train=%d val=%d  mean-pace baseline MAE %.3f min/km", 2200, 800, baseline_mae)
for ep in range(60):
    order = np.random.default_rng(ep).permutation(2200)
    run = 0.0
    for b in range(steps_per_epoch):
        ix = mx.array(order[b * 100:(b + 1) * 100])
        l, g = grad_fn(model, Xtr[ix], ytr[ix])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        run += l.item()
    v_mae = mx.mean(mx.abs(model(Xva) - yva)).item()
    v_mse = mse(model, Xva, yva).item()
    log.info("ep %2d lr %.5f | trn %.4f val %.4f | MAE %.3f min/km (base %.3f)",
             ep, opt.learning_rate.item(), run / steps_per_epoch, v_mse, v_mae, baseline_mae)
    if v_mse < best - 1e-4:
        best, bad = v_mse, 0
        best_w = tree_map(lambda a: mx.array(a), model.parameters())
    else:
        bad += 1
        if bad >= patience:
            log.warning("no val gain for %d epochs, stopping at ep %d", patience, ep)
            break
model.update(best_w)
mx.eval(model.parameters())
log.info("restored best: val mse %.4f  MAE %.3f min/km  vs baseline %.3f",
         mse(model, Xva, yva).item(), mx.mean(mx.abs(model(Xva) - yva)).item(), baseline_mae)
