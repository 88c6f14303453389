"""Cricket-bat willow workshop: predict the 'ping' (ball rebound, %) of a pressed
English-willow cleft from bench measurements, so that clefts can be graded before
shaping.  Small MLP, Adamax, warmup from lr=0 then cosine warm restarts, one JSON
line per epoch, best-epoch weights restored at the end."""

import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1907)


def make_clefts(n):
    grains = rng.integers(4, 15, n).astype(np.float32)          # visible grains on the face
    moisture = rng.uniform(8.0, 18.0, n).astype(np.float32)     # % water
    density = rng.normal(0.42, 0.04, n).astype(np.float32)      # g/cm^3
    knots = rng.poisson(0.8, n).astype(np.float32)              # pin knots / butterfly stains
    press_kn = rng.uniform(2.0, 9.0, n).astype(np.float32)      # pressing force
    seasons = rng.integers(1, 4, n).astype(np.float32)          # years air-dried
    red_heart = rng.uniform(0.0, 0.5, n).astype(np.float32)     # share of red heartwood
    ping = (
        58.0
        + 1.6 * np.sqrt(grains)
        - 0.09 * (moisture - 11.5) ** 2
        + 22.0 * (density - 0.42)
        - 1.3 * knots
        + 2.4 * np.tanh(press_kn - 5.0) - 0.25 * np.maximum(press_kn - 7.0, 0.0) ** 2
        + 0.8 * seasons
        - 3.0 * red_heart * (moisture > 13)
        + rng.normal(0.0, 0.6, n)
    ).astype(np.float32)
    X = np.stack([grains, moisture, density, knots, press_kn, seasons, red_heart], 1)
    return X, ping


Xtr, ytr = make_clefts(6000)
Xva, yva = make_clefts(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n, yva_raw = mx.array((ytr - ymu) / ysd), mx.array(yva)


class PingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = PingNet()
mx.eval(model.parameters())

BATCH = 100
STEPS_PER_EPOCH = Xtr.shape[0] // BATCH
WARM = 60
CYCLE = 8 * STEPS_PER_EPOCH  # restart every 8 epochs
EPOCHS = 32
LR_PEAK = 4e-3


def lr_at(step):
    step = mx.array(step, dtype=mx.float32)
    warm = LR_PEAK * step / WARM          # exactly 0 at step 0
    t = mx.remainder(step - WARM, CYCLE)
    cos = 2e-5 + 0.5 * (LR_PEAK - 2e-5) * (1 + mx.cos(math.pi * t / CYCLE))
    return mx.where(step < WARM, warm, cos)


opt = optim.Adamax(learning_rate=lr_at)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# sanity: every weight gets a gradient at the start
_, g0 = grad_fn(model, Xtr[:256], ytr_n[:256])
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
assert not dead, dead

baseline_rmse = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
best = (float("inf"), -1, None)
patience, bad = 10, 0
t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    run = 0.0
    for b in range(STEPS_PER_EPOCH):
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, grads = grad_fn(model, Xtr[idx], ytr_n[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    pred = model(Xva) * ysd + ymu
    err = pred - yva_raw
    rmse = float(mx.sqrt(mx.mean(err * err)))
    mae = float(mx.mean(mx.abs(err)))
    within = float(mx.mean((mx.abs(err) < 1.0).astype(mx.float32))) * 100
    rec = {
        "ep": epoch,
        "lr": round(float(opt.learning_rate), 6),
        "huber": round(run / STEPS_PER_EPOCH, 4),
        "val_rmse_pct": round(rmse, 3),
        "val_mae_pct": round(mae, 3),
        "within_1pt": round(within, 1),
        "mean_guess_rmse": round(baseline_rmse, 3),
    }
    print(json.dumps(rec), flush=True)
    if rmse < best[0] - 1e-4:
        best = (rmse, epoch, tree_map(lambda a: mx.array(a), model.parameters()))
        bad = 0
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "ep": epoch, "best_ep": best[1]}))
            break

model.update(best[2])
mx.eval(model.parameters())
pred = model(Xva) * ysd + ymu
final = float(mx.sqrt(mx.mean((pred - yva_raw) ** 2)))
print(json.dumps({"event": "restored", "best_ep": best[1], "val_rmse_pct": round(final, 3),
                  "mean_guess_rmse": round(baseline_rmse, 3), "secs": round(time.time() - t0, 1)}))
