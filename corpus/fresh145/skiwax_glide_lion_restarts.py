"""Nordic ski waxing: predict glide time (s over a 100 m test section) from
snow and wax conditions.  Lion + SGDR warm restarts (each cycle warms up from
lr = 0), JSON lines per epoch, early stopping that restores the best weights.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)

N_TRAIN, N_VAL = 2400, 600


def make_trials(n, key):
    k = mx.random.split(key, 8)
    snow_t = mx.random.uniform(-20.0, 0.0, (n,), key=k[0])         # deg C
    humid = mx.random.uniform(40.0, 100.0, (n,), key=k[1])          # % RH
    age = mx.random.uniform(0.0, 10.0, (n,), key=k[2])              # days since snowfall
    wax_h = mx.random.uniform(1.0, 10.0, (n,), key=k[3])            # wax hardness index
    struct = mx.random.uniform(0.1, 1.0, (n,), key=k[4])            # base structure depth mm
    compact = mx.random.uniform(0.0, 1.0, (n,), key=k[5])           # track compaction
    # made-up glide physics: best wax hardness tracks temperature
    h_best = 8.5 + 0.32 * snow_t + 0.01 * (humid - 70.0)
    miss = wax_h - h_best
    wet = mx.maximum(snow_t + 4.0, 0.0) * humid / 100.0
    t = (17.0 + 0.09 * miss * miss
         + 0.55 * mx.log1p(age) * (1.0 - 0.5 * compact)
         + 1.2 * wet * (0.9 - struct) ** 2 * 2.0
         + 0.04 * mx.abs(snow_t + 12.0)
         + 0.15 * mx.random.normal((n,), key=k[6]))
    x = mx.stack([snow_t, humid, age, wax_h, struct, compact], axis=1)
    return x, t


x_all, y_all = make_trials(N_TRAIN + N_VAL, mx.random.key(2024))
x_tr, y_tr = x_all[:N_TRAIN], y_all[:N_TRAIN]
x_va, y_va = x_all[N_TRAIN:], y_all[N_TRAIN:]
mu, sd = mx.mean(x_tr, axis=0), mx.std(x_tr, axis=0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = mx.mean(y_tr), mx.std(y_tr)


class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = GlideNet()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    pred = m(xb)
    return nn.losses.huber_loss(pred, (yb - y_mu) / y_sd, delta=1.0, reduction="mean")


def val_mae_seconds(m):
    pred = m(x_va) * y_sd + y_mu
    return mx.mean(mx.abs(pred - y_va))


# the old paper wax chart: wax colour picked from temperature only, mean time otherwise
chart_mae = mx.mean(mx.abs(y_va - y_mu)).item()

BATCH = 64
steps_per_epoch = N_TRAIN // BATCH
cycles = [10, 20, 40]
PEAK_LR, FLOOR_LR, WARM_EPOCHS = 1e-3, 1e-6, 2
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)
grad_fn = nn.value_and_grad(model, loss_fn)

best_mae, best_params, best_epoch, since_best = float("inf"), None, -1, 0
PATIENCE = 18
epoch = 0
t0 = time.time()
stopped = False
for ci, cyc_len in enumerate(cycles):
    total = cyc_len * steps_per_epoch
    warm = WARM_EPOCHS * steps_per_epoch
    for ce in range(cyc_len):
        perm = mx.random.permutation(N_TRAIN)
        run, nb = 0.0, 0
        for b in range(steps_per_epoch):
            s = ce * steps_per_epoch + b
            if s < warm:
                lr = PEAK_LR * s / warm                      # starts at exactly 0.0
            else:
                p = (s - warm) / max(1, total - warm)
                lr = FLOOR_LR + 0.5 * (PEAK_LR - FLOOR_LR) * (1 + math.cos(math.pi * p))
            opt.learning_rate = lr
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = grad_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        vmae = val_mae_seconds(model).item()
        gnorm = math.sqrt(sum((g * g).sum().item() for _, g in tree_flatten(grads)))
        rec = {"cycle": ci, "ep": ce, "lr_end": round(lr, 7), "huber": round(run / nb, 5),
               "val_mae_s": round(vmae, 4), "chart_mae_s": round(chart_mae, 4),
               "gnorm": round(gnorm, 4)}
        if vmae < best_mae - 1e-4:
            best_mae, best_epoch, since_best = vmae, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            rec["best"] = True
        else:
            since_best += 1
        print(json.dumps(rec))
        epoch += 1
        if since_best >= PATIENCE:
            print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
            stopped = True
            break
    if stopped:
        break
    if ci + 1 < len(cycles):
        print(json.dumps({"event": "warm_restart", "next_cycle": ci + 1, "lr": 0.0}))

model.update(best_params)
mx.eval(model.parameters())
final = val_mae_seconds(model).item()
print(json.dumps({"event": "restored", "best_epoch": best_epoch, "val_mae_s": round(final, 4),
                  "chart_mae_s": round(chart_mae, 4), "noise_floor_s": 0.12,
                  "wall_s": round(time.time() - t0, 1)}))
