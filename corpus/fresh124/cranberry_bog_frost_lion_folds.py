"""Cranberry bog frost watch: predict the minimum bud temperature (deg C) at dawn
from dusk sensor readings, 5-fold cross-validated, Lion with a warmup from lr 0."""
import json
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s bogwatch | %(message)s")
log = logging.getLogger("bogwatch")

rng = np.random.default_rng(124)
N = 3000
air = rng.uniform(-2.0, 12.0, N)          # dusk air temperature, C
dew = air - rng.gamma(2.0, 2.0, N)        # dew point, C
wind = rng.gamma(2.0, 1.2, N)             # m/s
cloud = rng.uniform(0, 1, N)              # fraction
sprinkler = (rng.uniform(0, 1, N) < 0.35).astype(np.float64)
flood = rng.uniform(0, 30, N)             # cm of water on the bog
hours = rng.uniform(8, 14, N)             # hours until sunrise
sand = rng.integers(0, 6, N).astype(np.float64)  # years since last sanding
# made-up radiative-cooling law
drop = (0.45 * hours * (1 - 0.7 * cloud) * np.exp(-0.25 * wind)
        + 0.12 * np.maximum(air - dew, 0) - 0.08 * flood ** 0.8 + 0.15 * sand)
bud = air - drop + 2.2 * sprinkler * (air - drop < 0) + rng.normal(0, 0.45, N)
X = np.stack([air, dew, wind, cloud, sprinkler, flood, hours, sand], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
y = bud.astype(np.float32)

K, EPOCHS, BATCH = 5, 18, 128
folds = np.array_split(rng.permutation(N), K)


class FrostNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


summary = []
t0 = time.time()
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    ymu, ysd = float(y[tr].mean()), float(y[tr].std())
    Xtr, Ytr = mx.array(X[tr]), mx.array((y[tr] - ymu) / ysd)
    Xva, Yva = mx.array(X[va]), y[va]
    base_rmse = float(np.sqrt(np.mean((Yva - ymu) ** 2)))

    mx.random.seed(100 + k)
    model = FrostNet()
    steps_per_epoch = len(tr) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 5e-5)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, mse)

    _, g0 = vg(model, Xtr[:BATCH], Ytr[:BATCH])
    from mlx.utils import tree_flatten
    flat = [(n, float(mx.abs(v).sum())) for n, v in tree_flatten(g0)]
    log.info("fold %d audit: %d/%d grad tensors nonzero, min |g|_1 = %.3e", k + 1,
             sum(v > 0 for _, v in flat), len(flat), min(v for _, v in flat))

    for ep in range(EPOCHS):
        perm = mx.array(np.random.default_rng(k * 100 + ep).permutation(len(tr)))
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * BATCH:(s + 1) * BATCH]
            loss, g = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = np.array(model(Xva)) * ysd + ymu
        rmse = float(np.sqrt(np.mean((pred - Yva) ** 2)))
        frost_true, frost_pred = Yva < 0, pred < 0
        hit = 100.0 * float((frost_true & frost_pred).sum()) / max(1, int(frost_true.sum()))
        log.info(json.dumps({"fold": k + 1, "epoch": ep + 1, "lr": round(float(opt.learning_rate), 6),
                             "train_mse_z": round(run / steps_per_epoch, 4), "val_rmse_C": round(rmse, 3),
                             "climatology_rmse_C": round(base_rmse, 3), "frost_caught_pct": round(hit, 1)}))
    summary.append((k + 1, rmse, base_rmse, hit))

print("\nfold  val_rmse_C  climatology_C  frost_caught")
for f, r, b, h in summary:
    print(f"{f:>4}  {r:10.3f}  {b:13.3f}  {h:11.1f}%")
rm = np.mean([s[1] for s in summary])
print(f"mean  {rm:10.3f}  {np.mean([s[2] for s in summary]):13.3f}  {np.mean([s[3] for s in summary]):11.1f}%"
      f"   ({time.time() - t0:.1f}s)")
