"""Sugar-beet factory: predict diffuser sugar extraction (%) from cossette/diffuser readings.

Swish-like activation with a hand-written VJP, gradients averaged through
mx.distributed (single process here), cosine schedule with warm restarts,
one JSON line per epoch.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N_TRAIN, N_VAL = 2400, 600


def make_campaign(n):
    cossette_mm = rng.uniform(8, 22, n)          # cossette length
    temp_c = rng.uniform(66, 76, n)              # diffuser temperature
    draft_pct = rng.uniform(95, 125, n)          # draft (juice per beet)
    ph = rng.uniform(5.4, 6.6, n)
    minutes = rng.uniform(60, 110, n)            # residence time
    pol = rng.uniform(15.0, 19.5, n)             # beet sugar content
    frost = (rng.uniform(size=n) < 0.15).astype(np.float64)
    ext = (98.2
           - 0.018 * (cossette_mm - 14) ** 2
           - 0.09 * np.abs(temp_c - 71.5) ** 1.5
           + 2.2 * np.tanh((draft_pct - 105) / 10)
           - 0.9 * (ph - 6.0) ** 2
           + 1.1 * (1 - np.exp(-(minutes - 60) / 25))
           - 0.25 * (19.5 - pol)
           - 1.6 * frost * (temp_c > 72))
    ext = ext + rng.normal(0, 0.18, n)
    X = np.stack([cossette_mm, temp_c, draft_pct, ph, minutes, pol, frost], 1)
    return X.astype(np.float32), ext.astype(np.float32)


Xtr, ytr = make_campaign(N_TRAIN)
Xva, yva = make_campaign(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
y_mu, y_sd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n = mx.array((ytr - y_mu) / y_sd)
yva_np = yva


@mx.custom_function
def swish(x):
    return x * mx.sigmoid(x)


@swish.vjp
def swish_vjp(x, cotangent, output):
    s = mx.sigmoid(x)
    return cotangent * (s + x * s * (1 - s))


class ExtractionNet(nn.Module):
    def __init__(self, d_in=7, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = swish(self.l1(x))
        h = swish(self.l2(h))
        return self.out(h).squeeze(-1)


# audit the hand-written VJP against autodiff once
xa = mx.linspace(-4, 4, 101)
g_custom = mx.grad(lambda v: swish(v).sum())(xa)
g_auto = mx.grad(lambda v: (v * mx.sigmoid(v)).sum())(xa)
print(json.dumps({"audit": "swish_vjp", "max_abs_diff": float(mx.abs(g_custom - g_auto).max())}))

group = mx.distributed.init()
world = group.size()

mx.random.seed(7)
model = ExtractionNet()
mx.eval(model.parameters())


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


loss_and_grad = nn.value_and_grad(model, mse)

cycles = [8, 16]          # epochs per warm-restart cycle
lr_max, lr_min = 4e-3, 4e-5
BATCH = 64
steps_per_epoch = N_TRAIN // BATCH
opt = optim.Adamax(learning_rate=lr_max)

baseline_rmse = float(np.sqrt(((yva_np - ytr.mean()) ** 2).mean()))
t0 = time.time()
epoch_global = 0
for c_idx, c_len in enumerate(cycles):
    total = c_len * steps_per_epoch
    for ep in range(c_len):
        perm = mx.array(rng.permutation(N_TRAIN))
        run = 0.0
        for b in range(steps_per_epoch):
            k = ep * steps_per_epoch + b
            opt.learning_rate = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * k / total))
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = loss_and_grad(model, Xtr[idx], ytr_n[idx])
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = np.array(model(Xva)) * y_sd + y_mu
        rmse = float(np.sqrt(((pred - yva_np) ** 2).mean()))
        epoch_global += 1
        print(json.dumps({
            "cycle": c_idx, "ep": ep, "lr": round(float(opt.learning_rate.item()), 6),
            "train_mse_std": round(run / steps_per_epoch, 5),
            "val_rmse_pts": round(rmse, 4), "mean_predictor_rmse_pts": round(baseline_rmse, 4),
        }))

_, grads = loss_and_grad(model, Xtr[:256], ytr_n[:256])
zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
print(json.dumps({"summary": "done", "epochs": epoch_global, "world": world,
                  "zero_grad_params": zero, "seconds": round(time.time() - t0, 1)}))
