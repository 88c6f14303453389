# Bike-share dock demand: Poisson regression of pickups in the next hour.
# Data-parallel style loop (mx.distributed, here launched as a single process)
# with gradient accumulation over micro-batches and a warmup that starts at lr 0.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

group = mx.distributed.init()
rank, world = group.rank(), group.size()

rng = np.random.default_rng(7 + rank)
mx.random.seed(11)


def make_docks(n):
    hour = rng.integers(0, 24, n)
    temp = rng.normal(14.0, 8.0, n)            # deg C
    rain = rng.exponential(0.6, n) * (rng.random(n) < 0.3)  # mm/h
    weekday = (rng.random(n) < 5 / 7).astype(np.float64)
    elev = rng.normal(0.0, 1.0, n)             # standardised station elevation
    transit = rng.random(n)                    # share of nearby transit stops
    commute = np.exp(-((hour - 8) ** 2) / 4.0) + np.exp(-((hour - 17.5) ** 2) / 5.0)
    log_rate = (0.4 + 1.3 * commute * weekday + 0.5 * (1 - weekday) * np.exp(-((hour - 14) ** 2) / 18.0)
                + 0.03 * temp - 0.6 * np.log1p(rain) - 0.35 * elev + 0.8 * transit)
    y = rng.poisson(np.exp(log_rate))
    x = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  (temp - 14.0) / 8.0, np.log1p(rain), weekday, elev, transit], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_docks(16384)
xva, yva = make_docks(1024)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)


class DockRate(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)          # log-rate


def poisson_nll(model, x, y):
    eta = model(x)
    return mx.mean(mx.exp(eta) - y * eta)


model = DockRate()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, poisson_nll)

MICRO, ACCUM, EPOCHS = 64, 4, 16
micro_per_epoch = len(xtr) // MICRO
updates_per_epoch = math.ceil(micro_per_epoch / ACCUM)
TOTAL, WARM, PEAK = EPOCHS * updates_per_epoch, 30, 3e-3


def lr_at(u):
    if u < WARM:
        return PEAK * u / WARM                  # u == 0 -> exactly 0
    p = (u - WARM) / max(1, TOTAL - WARM)
    return 0.5 * PEAK * (1 + math.cos(math.pi * p))


def all_avg(g):
    return mx.distributed.all_sum(g, group=group) / world


# a constant-rate reference model (the training mean), for comparison
ybar = float(ytr.mean())
ref_nll = float(np.mean(ybar - yva * np.log(ybar)))

# check that every parameter gets a gradient before training
_, g0 = loss_and_grad(model, Xtr[:256], Ytr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_check", "params": len(tree_flatten(g0)), "zero_grad": zero, "world": world}))

update = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(len(xtr))
    acc, n_in, run_loss, n_micro = None, 0, 0.0, 0
    for m in range(micro_per_epoch):
        idx = perm[m * MICRO:(m + 1) * MICRO]
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        grads = tree_map(all_avg, grads)
        acc = grads if acc is None else tree_map(mx.add, acc, grads)
        n_in += 1
        mx.eval(loss, acc)
        run_loss += loss.item()
        n_micro += 1
        if n_in == ACCUM or m == micro_per_epoch - 1:
            opt.learning_rate = lr_at(update)
            opt.update(model, tree_map(lambda g: g / n_in, acc))
            mx.eval(model.parameters(), opt.state)
            acc, n_in = None, 0
            update += 1
    eta = model(Xva)
    val_nll = mx.mean(mx.exp(eta) - Yva * eta).item()
    val_mae = mx.mean(mx.abs(mx.exp(eta) - Yva)).item()
    print(json.dumps({"epoch": epoch, "updates": update, "lr": round(float(opt.learning_rate.item()), 6),
                      "train_nll": round(run_loss / n_micro, 4), "val_nll": round(val_nll, 4),
                      "ref_const_nll": round(ref_nll, 4), "val_mae_bikes": round(val_mae, 3),
                      "sec": round(time.time() - t0, 2)}))

print(json.dumps({"event": "done", "updates": update, "val_nll": round(val_nll, 4),
                  "gain_vs_const": round(ref_nll - val_nll, 4)}))
