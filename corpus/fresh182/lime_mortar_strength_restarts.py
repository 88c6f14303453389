"""Lime-mortar test cubes: predict 28-day compressive strength (MPa) from mix and curing settings.
Small MLP, Adamax on a warm-restart schedule (every cycle ramps up from lr = 0).
Prints a fixed-width table, one row per epoch."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

N_TRAIN, N_VAL = 3000, 600
CYCLES, EPOCHS_PER_CYCLE, BATCH = 3, 8, 50
PEAK_LR = [6e-3, 4e-3, 2e-3]


def synth(n):
    binder = mx.random.uniform(0.15, 0.40, (n,))        # binder:aggregate ratio
    water = mx.random.uniform(0.6, 1.1, (n,))            # water:binder ratio
    nhl = mx.random.randint(2, 6, (n,)).astype(mx.float32)  # NHL 2 / 3.5 / 5 class (2..5)
    pozz = mx.random.uniform(0.0, 0.25, (n,))            # pozzolan fraction
    rh = mx.random.uniform(50.0, 95.0, (n,))             # curing humidity %
    temp = mx.random.uniform(5.0, 25.0, (n,))            # curing temperature C
    carb = 1.0 - mx.exp(-0.04 * (100.0 - rh) - 0.02 * temp)
    strength = (0.9 * nhl * binder / 0.25) * mx.exp(-1.3 * (water - 0.8)) * (0.6 + 0.8 * carb) * (1 + 2.0 * pozz)
    strength = strength + 0.15 * mx.random.normal((n,))
    x = mx.stack([binder, water, nhl, pozz, rh, temp], axis=1)
    return x, strength


xtr, ytr = synth(N_TRAIN)
xva, yva = synth(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
norm = lambda x: (x - mu) / sd

model = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())

steps_per_epoch = N_TRAIN // BATCH
cycle_len = EPOCHS_PER_CYCLE * steps_per_epoch
warm = steps_per_epoch  # one epoch of warmup from exactly 0 at every restart
pieces, bounds = [], []
for c, peak in enumerate(PEAK_LR):
    pieces.append(optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, cycle_len - warm, peak * 0.02)],
        [warm]))
    if c:
        bounds.append(c * cycle_len)
schedule = optim.join_schedules(pieces, bounds)
opt = optim.Adamax(learning_rate=schedule)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(norm(x)).squeeze(-1), (y - ymu) / ysd)


vg = nn.value_and_grad(model, loss_fn)

# gradient reach check before training
_, g0 = vg(model, xtr[:BATCH], ytr[:BATCH])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
assert not zero, zero

mean_pred_rmse = mx.sqrt(((yva - ytr.mean()) ** 2).mean()).item()
print(f"{'cyc':>3} {'ep':>3} {'lr@1st':>9} {'train_mse(z)':>12} {'val_rmse':>9} {'mean-pred':>9} {'R2 %':>6}")
print(f"{'':>3} {'':>3} {'':>9} {'':>12} {'[MPa]':>9} {'[MPa]':>9} {'':>6}")
for cycle in range(CYCLES):
    for ep in range(EPOCHS_PER_CYCLE):
        perm = mx.random.permutation(N_TRAIN)
        tot = 0.0
        lr_first = schedule(mx.array(opt.step.item())).item()
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = model(norm(xva)).squeeze(-1) * ysd + ymu
        rmse = mx.sqrt(((pred - yva) ** 2).mean()).item()
        r2 = 100.0 * (1.0 - rmse ** 2 / mean_pred_rmse ** 2)
        print(f"{cycle:>3} {ep:>3} {lr_first:>9.2e} {tot / steps_per_epoch:>12.5f} "
              f"{rmse:>9.3f} {mean_pred_rmse:>9.3f} {r2:>6.2f}", flush=True)
