# Ice rink: after each resurfacing pass, a test puck is slid from the blue
# line and its glide distance (m) is logged.  Regress it from the machine
# and rink readings.  Warm restarts, each with a linear warm-up from zero;
# one JSON object per epoch.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N_TR, N_VA = 3000, 600


def make_passes(n):
    water_c = rng.uniform(35, 70, n)          # flood water temperature, C
    litres = rng.uniform(300, 600, n)         # water laid per pass
    blade_mm = rng.uniform(0.5, 2.5, n)       # blade shave depth
    slab_c = rng.uniform(-9, -3, n)           # slab temperature, C
    humid = rng.uniform(30, 80, n)            # % relative humidity
    minutes = rng.uniform(5, 40, n)           # minutes since the pass
    skaters = rng.integers(0, 60, n).astype(float)
    hardness = np.clip(-slab_c - 2, 0, None) * 0.35
    glide = (1.2 * hardness + 0.012 * litres * np.sin(np.radians(water_c)) * 2.2
             - 0.55 * (humid - 55) / 5 - 0.8 * (blade_mm - 1.5) + 0.05 * minutes
             - 0.3 * np.log1p(skaters) + 0.004 * litres * minutes / 30)
    glide += rng.normal(0, 0.6, n)
    X = np.stack([water_c, litres, blade_mm, slab_c, humid, minutes, skaters], 1)
    return X.astype(np.float32), glide.astype(np.float32)[:, None]


Xtr, ytr = make_passes(N_TR)
Xva, yva = make_passes(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ttr, tva = (ytr - ym) / ys, (yva - ym) / ys
Xtr, ttr, Xva, tva = map(mx.array, (Xtr, ttr, Xva, tva))
baseline_mae = float(np.abs(yva - ym).mean())

model = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())

CYCLE, WARM, PEAK, EPOCHS, BS = 12, 3, 4e-3, 36, 100
steps_per_epoch = N_TR // BS


def lr_at(step):
    cyc_len = CYCLE * steps_per_epoch
    s = step % cyc_len
    w = WARM * steps_per_epoch
    if s < w:
        return PEAK * s / w                    # exactly 0 at the start of a cycle
    t = (s - w) / (cyc_len - w)
    return PEAK * 0.5 * (1 + math.cos(math.pi * t))


opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, x, t):
    return nn.losses.mse_loss(m(x), t)


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off check that every weight gets a gradient
_, g0 = grad_fn(model, Xtr[:200], ttr[:200])
assert all(float(mx.abs(v).sum()) > 0 for _, v in tree_flatten(g0))

step = 0
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(N_TR))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        opt.learning_rate = lr_at(step)
        loss, grads = grad_fn(model, Xtr[idx], ttr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        step += 1
    pred = model(Xva) * ys + ym
    va_mse = nn.losses.mse_loss(model(Xva), tva).item()
    va_mae = mx.abs(pred - mx.array(yva)).mean().item()
    print(json.dumps({"cycle": ep // CYCLE, "ep_in_cycle": ep % CYCLE,
                      "lr": round(float(opt.learning_rate.item()), 6),
                      "train_mse": round(tot / steps_per_epoch, 4),
                      "val_mse": round(va_mse, 4),
                      "val_mae_m": round(va_mae, 3),
                      "mean_guess_mae_m": round(baseline_mae, 3)}))
