"""Cheese cave affinage: predict weight loss (%) and rind pH after 6 weeks
from cave conditions.  Decay only on matrices (AdamW), biases/norms on Adam."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s cave: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("affinage")

rng = random.Random(7)


def make_wheel():
    temp = rng.uniform(8, 14)          # deg C
    rh = rng.uniform(80, 98)           # % relative humidity
    turns = rng.randint(1, 7)          # turns per week
    salt = rng.uniform(1.0, 3.0)       # % brine
    wheel = rng.uniform(0.5, 4.0)      # kg
    airflow = rng.uniform(0.05, 0.6)   # m/s
    loss = (4 + 0.9 * (temp - 8) + 0.35 * (98 - rh) + 6 * airflow
            - 1.1 * math.log(wheel) + 0.15 * turns + rng.gauss(0, 0.6))
    ph = (5.1 + 0.12 * (temp - 8) + 0.04 * (rh - 80) - 0.25 * salt
          + 0.3 * math.tanh(turns - 3) + rng.gauss(0, 0.06))
    return [temp, rh, turns, salt, wheel, airflow], [loss, ph]


rows = [make_wheel() for _ in range(2400)]
X = mx.array([r[0] for r in rows])
Y = mx.array([r[1] for r in rows])
mu, sd = X[:1800].mean(0), X[:1800].std(0)
X = (X - mu) / sd
ym, ys = Y[:1800].mean(0), Y[:1800].std(0)
Xtr, Ytr, Xva, Yva = X[:1800], Y[:1800], X[1800:], Y[1800:]


class Cave(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.norm = nn.LayerNorm(48)
        self.hid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.hid(h))
        return self.out(h)


model = Cave()
mx.eval(model.parameters())

steps_per_epoch = 1800 // 60
warm = optim.linear_schedule(0.0, 3e-3, 5 * steps_per_epoch)
cos = optim.cosine_decay(3e-3, 55 * steps_per_epoch, 1e-4)
sched = optim.join_schedules([warm, cos], [5 * steps_per_epoch])
is_matrix = lambda path, p: path.endswith("weight") and p.ndim == 2 and "norm" not in path
opt = optim.MultiOptimizer(
    [optim.AdamW(learning_rate=sched, weight_decay=0.05), optim.Adam(learning_rate=sched)],
    [is_matrix],
)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), (yb - ym) / ys, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# check every parameter receives gradient
_, g0 = vg(model, Xtr[:60], Ytr[:60])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
log.info("gradient audit: %d tensors, %d with zero grad", len(tree_flatten(g0)), len(zero))

base_mae = mx.abs(Yva - ym).mean(0)
log.info("mean-predictor baseline: loss %.2f %%  pH %.3f", base_mae[0].item(), base_mae[1].item())

best, best_params, patience, bad = float("inf"), None, 8, 0
for epoch in range(60):
    perm = mx.array(rng.sample(range(1800), 1800))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * 60:(i + 1) * 60]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pred = model(Xva) * ys + ym
    mae = mx.abs(pred - Yva).mean(0)
    vmse = loss_fn(model, Xva, Yva).item()
    lr_now = sched(mx.array(opt.optimizers[0].step)).item()
    log.info("ep %02d lr=%.2e train_mse=%.4f val_mse=%.4f | MAE loss %.2f %% (base %.2f) pH %.3f (base %.3f)",
             epoch, lr_now, tot / steps_per_epoch, vmse, mae[0].item(), base_mae[0].item(),
             mae[1].item(), base_mae[1].item())
    if vmse < best - 1e-4:
        best, bad = vmse, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
    else:
        bad += 1
        if bad >= patience:
            log.warning("no val improvement for %d epochs, stopping at epoch %d", patience, epoch)
            break

model.update(best_params)
mx.eval(model.parameters())
pred = model(Xva) * ys + ym
mae = mx.abs(pred - Yva).mean(0)
log.info("restored best (val_mse=%.4f): MAE loss %.2f %%  pH %.3f", best, mae[0].item(), mae[1].item())
