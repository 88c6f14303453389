"""Bagpipe drone drift: predict how far (in cents) a tenor drone drifts from
the chanter's Low A after 10 minutes of playing, from a pre-tune check sheet.
Single-host data-parallel style: gradients are averaged with mx.distributed."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(31)
N_TRAIN, N_VAL = 6000, 1200


def make_sheets(n):
    humidity = rng.uniform(30, 95, n)          # % RH in the bag
    bag_temp = rng.uniform(12, 36, n)          # deg C
    reed_age = rng.gamma(2.0, 20.0, n)         # hours played
    hemp_turns = rng.integers(0, 12, n)        # extra hemp on the tuning slide
    pressure = rng.normal(32, 4, n)            # inches of water
    cane = rng.integers(0, 2, n)               # 1 = cane reed, 0 = synthetic
    drift = (0.35 * (humidity - 60) * (0.4 + 0.6 * cane)
             + 0.9 * (bag_temp - 24)
             - 6.0 * np.log1p(reed_age / 30.0)
             + 1.1 * hemp_turns * np.sin(pressure / 10.0)
             + 0.02 * (pressure - 32) ** 2 * (1 + cane)
             + rng.normal(0, 1.5, n))
    x = np.stack([humidity, bag_temp, np.log1p(reed_age), hemp_turns,
                  pressure, cane], 1).astype(np.float32)
    return x, drift.astype(np.float32)


xtr, ytr = make_sheets(N_TRAIN)
xva, yva = make_sheets(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
y_mu, y_sd = ytr.mean(), ytr.std()
Xtr, Ytr = mx.array(xtr), mx.array((ytr - y_mu) / y_sd)
Xva, Yva = mx.array(xva), mx.array(yva)

group = mx.distributed.init()
world, rank = group.size(), group.rank()
print(f"[dist] rank {rank} of {world} (backend ok)")

mx.random.seed(31)
model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64),
                      nn.SiLU(), nn.Linear(64, 1))

EPOCHS_PER_CYCLE = [6, 12]          # two cycles, the second twice as long
BATCH = 100
steps_per_epoch = N_TRAIN // BATCH


def cycle_schedule(n_epochs, peak):
    n = n_epochs * steps_per_epoch
    warm = steps_per_epoch           # one epoch of warm-up from exactly 0
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, n - warm, peak * 0.02)], [warm])


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def step(opt, x, y):
    loss, grads = loss_and_grad(model, x, y)
    grads = nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
    opt.update(model, grads)
    return loss


def val_rmse_cents():
    pred = model(Xva).squeeze(-1) * float(y_sd) + float(y_mu)
    return math.sqrt(mx.mean((pred - Yva) ** 2).item())


base_rmse = float(np.sqrt(np.mean((yva - y_mu) ** 2)))
print(f"reference: predict-the-mean RMSE {base_rmse:.2f} cents, tuner's ear ~1.5 cents")

t0 = time.time()
for cyc, n_ep in enumerate(EPOCHS_PER_CYCLE, 1):
    opt = optim.SGD(learning_rate=cycle_schedule(n_ep, 0.05 if cyc == 1 else 0.08),
                    momentum=0.9, nesterov=True)
    for ep in range(1, n_ep + 1):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(opt, Xtr[idx], Ytr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        rmse = val_rmse_cents()
        done = int(20 * ep / n_ep)
        bar = "#" * done + "." * (20 - done)
        lr = opt.learning_rate.item()
        print(f"cycle {cyc} {ep:2d}/{n_ep} |{bar}| {100 * ep // n_ep:3d}% "
              f"train_mse={tot / steps_per_epoch:.4f} val={rmse:.2f}c "
              f"(ref {base_rmse:.2f}c) lr={lr:.4f} [{time.time() - t0:.1f}s]")

final = val_rmse_cents()
print(f"done: val RMSE {final:.2f} cents vs mean-baseline {base_rmse:.2f} cents "
      f"({100 * (1 - final / base_rmse):.1f}% lower)")
