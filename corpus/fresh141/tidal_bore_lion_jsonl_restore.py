# Tidal bore forecaster: predict the bore front height (m) at the Elbow Bend gauge
# from six synthetic tide/river readings. Lion optimiser, warmup from lr=0,
# compiled step, early stopping that restores the best weights. JSON lines out.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(141)


def make_bores(n):
    tide_range = rng.uniform(4.0, 9.5, n)          # m, spring/neap
    discharge = rng.lognormal(4.2, 0.5, n)         # m3/s river flow
    moon_day = rng.uniform(0, 29.5, n)             # days into the lunar cycle
    wind = rng.normal(0.0, 6.0, n)                 # m/s, + = upstream
    width = rng.uniform(60, 240, n)                # channel width m
    depth = rng.uniform(1.0, 4.0, n)               # low-water depth m
    spring = np.cos(4 * math.pi * moon_day / 29.5)
    froude = (tide_range / depth) ** 0.5
    h = (0.22 * tide_range * (1 + 0.25 * spring)
         - 0.0035 * discharge
         + 0.35 * np.tanh(froude - 1.6)
         + 0.012 * wind
         - 0.0018 * (width - 150))
    h = np.clip(h, 0.05, None) + rng.normal(0, 0.06, n)
    X = np.stack([tide_range, np.log(discharge), np.sin(2 * math.pi * moon_day / 29.5),
                  spring, wind, width, depth], axis=1).astype(np.float32)
    return X, h.astype(np.float32)


Xtr, ytr = make_bores(5000)
Xva, yva = make_bores(800)
Xte, yte = make_bores(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xtr, ytr, Xva, yva, Xte, yte = map(mx.array, (Xtr, ytr, Xva, yva, Xte, yte))


class BoreNet(nn.Module):
    def __init__(self, d_in=7, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.head(h).squeeze(-1)


mx.random.seed(7)
model = BoreNet()
warm = optim.linear_schedule(0.0, 3e-4, 150)      # starts at exactly 0
decay = optim.cosine_decay(3e-4, 1650, end=1e-5)
lr_sched = optim.join_schedules([warm, decay], [150])
opt = optim.Lion(learning_rate=lr_sched, weight_decay=0.05)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, grads)
    return loss


def mae(x, y):
    return mx.mean(mx.abs(model(x) - y)).item()


base_mae = mx.mean(mx.abs(yva - mx.mean(ytr))).item()
bs, n = 100, Xtr.shape[0]
best, best_params, best_epoch, bad, patience = float("inf"), None, -1, 0, 6
t0 = time.time()
gstep = 0
for epoch in range(40):
    perm = mx.array(rng.permutation(n))
    run = 0.0
    for i in range(0, n, bs):
        idx = perm[i:i + bs]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        gstep += 1
    v = mae(Xva, yva)
    rec = {"epoch": epoch, "step": gstep, "lr": round(float(opt.learning_rate.item()), 7),
           "train_mse_m2": round(run / (n // bs), 5), "val_mae_m": round(v, 4),
           "climatology_mae_m": round(base_mae, 4), "best_val_mae_m": round(min(best, v), 4)}
    print(json.dumps(rec), flush=True)
    if v < best - 1e-4:
        best, best_epoch, bad = v, epoch, 0
        best_params = {k: mx.array(a) for k, a in
                       tree_flatten(model.parameters())}
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
            break

model.update(tree_unflatten(list(best_params.items())))
mx.eval(model.parameters())
print(json.dumps({"event": "restored", "best_epoch": best_epoch,
                  "val_mae_m": round(mae(Xva, yva), 4),
                  "test_mae_m": round(mae(Xte, yte), 4),
                  "test_climatology_mae_m": round(mx.mean(mx.abs(yte - mx.mean(ytr))).item(), 4),
                  "noise_floor_mae_m": round(0.06 * math.sqrt(2 / math.pi), 4),
                  "wall_s": round(time.time() - t0, 1)}))
