"""Aerial shell time-fuse calibration.

Predict the burn time (seconds) of a pyrotechnic time fuse from the build sheet
of the shell: fuse length, black-powder core loading, paper wrap turns, storage
humidity, ambient temperature and the age of the fuse roll.  Data is made up.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s fuse-cal | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("fuse")

rng = np.random.default_rng(1167)


def make_sheets(n):
    length_mm = rng.uniform(20, 120, n)
    core_g_per_m = rng.uniform(4.0, 9.0, n)
    wraps = rng.integers(2, 7, n).astype(np.float64)
    humidity = rng.uniform(20, 90, n)
    temp_c = rng.uniform(-5, 35, n)
    age_months = rng.exponential(10, n).clip(0, 48)
    # made-up burn law: mm/s falls with wraps & humidity, rises with loading & temperature
    rate = (9.0 + 0.9 * (core_g_per_m - 6.5) - 0.7 * (wraps - 4)
            - 0.045 * (humidity - 50) + 0.04 * (temp_c - 15)
            - 1.2 * np.tanh(age_months / 18.0))
    rate = np.maximum(rate, 2.5)
    burn_s = length_mm / rate * (1 + 0.03 * rng.standard_normal(n))
    X = np.stack([length_mm, core_g_per_m, wraps, humidity, temp_c, age_months], 1)
    return X.astype(np.float32), burn_s.astype(np.float32)


Xtr, ytr = make_sheets(6000)
Xva, yva = make_sheets(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu) / sd)
Xva_n = mx.array((Xva - mu) / sd)
ytr_n = mx.array((ytr - ymu) / ysd)
yva_s = mx.array(yva)


@mx.custom_function
def grad_governor(x):
    """Identity in the forward pass; backward caps each row's gradient norm at 1."""
    return x


@grad_governor.vjp
def grad_governor_vjp(primals, cotangent, output):
    g = cotangent
    norms = mx.sqrt(mx.sum(g * g, axis=-1, keepdims=True) + 1e-12)
    return (g * mx.minimum(1.0, 1.0 / norms),)


class FuseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = grad_governor(h)
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


model = FuseNet()
mx.eval(model.parameters())

EPOCHS = 40
BATCH = 128
steps_per_epoch = len(Xtr) // BATCH
warm = 3 * steps_per_epoch
total = EPOCHS * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")


value_and_grad = nn.value_and_grad(model, loss_fn)


def val_mae_seconds():
    pred = model(Xva_n) * ysd + ymu
    return mx.mean(mx.abs(pred - yva_s)).item()


# reference: a nominal catalogue rate of 8.5 mm/s for every fuse
baseline_mae = float(np.mean(np.abs(Xva[:, 0] / 8.5 - yva)))
log.info("train=%d valid=%d  burn time %.2f +- %.2f s  catalogue-rate MAE %.3f s",
         len(Xtr), len(Xva), ymu, ysd, baseline_mae)

# check: every parameter gets a gradient at step 0
_, g0 = value_and_grad(model, Xtr_n[:BATCH], ytr_n[:BATCH])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    log.info("grad-audit %-12s |g|=%.3e", k, mx.linalg.norm(v).item())

best, best_epoch, best_params = math.inf, -1, None
patience, bad = 6, 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = value_and_grad(model, Xtr_n[idx], ytr_n[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    mae = val_mae_seconds()
    lr_now = float(opt.learning_rate.item())
    flag = ""
    if mae < best - 1e-4:
        best, best_epoch, bad = mae, epoch, 0
        best_params = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
        flag = " *"
    else:
        bad += 1
    log.info("ep %02d lr=%.2e huber=%.4f val_mae=%.3fs (catalogue %.3fs, %.1f%% of it)%s",
             epoch, lr_now, run / steps_per_epoch, mae, baseline_mae, 100 * mae / baseline_mae, flag)
    if bad >= patience:
        log.warning("no val improvement for %d epochs, stopping at epoch %d", patience, epoch)
        break

model.load_weights(list(best_params.items()))
mx.eval(model.parameters())
final = val_mae_seconds()
log.info("restored epoch %d weights: val_mae=%.3fs vs catalogue %.3fs (%.1fx better) in %.1fs",
         best_epoch, final, baseline_mae, baseline_mae / final, time.time() - t0)
