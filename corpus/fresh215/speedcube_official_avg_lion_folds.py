# Speed-cubing: forecast a cuber's next official average-of-5 (seconds) from practice logs.
# 4-fold CV, fresh MLP per fold, Lion with warmup from lr=0, JSON lines per log point.
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
N = 2400
hours = rng.gamma(2.0, 3.0, N)                 # practice hours / week
prac = rng.uniform(7.0, 45.0, N)               # mean of recent practice solves (s)
tps = rng.normal(6.0, 1.6, N).clip(2.0, 12.0)  # turns per second
look = rng.uniform(0.0, 1.0, N)                # lookahead score
lube = rng.integers(0, 60, N).astype(float)    # days since cube was lubed
comps = rng.poisson(6.0, N).astype(float)      # competitions attended
age = rng.uniform(9.0, 45.0, N)
nerves = 1.0 + 0.6 * np.exp(-comps / 4.0)      # fewer comps -> more nerves
target = (prac * nerves * (1.0 - 0.04 * np.log1p(hours)) * (6.0 / tps) ** 0.35
          * (1.0 - 0.12 * look) + 0.015 * lube + 0.02 * np.abs(age - 22.0))
target = target * rng.lognormal(0.0, 0.06, N)  # seconds
X = np.stack([hours, prac, tps, look, lube, comps, age], axis=1)
folds = rng.permutation(N) % 4


class Forecaster(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        return self.head(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


STEPS, BS, LOG_EVERY = 300, 128, 50
t0 = time.time()
maes = []
for k in range(4):
    tr, va = folds != k, folds == k
    mu, sd = X[tr].mean(0), X[tr].std(0)
    ymu, ysd = target[tr].mean(), target[tr].std()
    xtr = mx.array(((X[tr] - mu) / sd).astype(np.float32))
    ytr = mx.array(((target[tr] - ymu) / ysd).astype(np.float32))
    xva = mx.array(((X[va] - mu) / sd).astype(np.float32))
    yva_sec = target[va]
    base_mae = float(np.abs(yva_sec - ymu).mean())  # predict-the-train-mean baseline

    mx.random.seed(100 + k)
    model = Forecaster(X.shape[1])
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, 60), optim.cosine_decay(3e-4, STEPS - 60, 3e-5)], [60])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g0 = vg(model, xtr[:BS], ytr[:BS])
        dead = [n for n, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
        print(json.dumps({"check": "grad_nonzero", "params": len(tree_flatten(g0)), "zero": dead}))

    n_tr = xtr.shape[0]
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, n_tr, BS))
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % LOG_EVERY == 0:
            pred_sec = np.array(model(xva)) * ysd + ymu
            mae = float(np.abs(pred_sec - yva_sec).mean())
            print(json.dumps({"fold": k, "step": step, "lr": round(lr_now, 7),
                              "huber": round(loss.item(), 5), "val_mae_s": round(mae, 3),
                              "baseline_mae_s": round(base_mae, 3),
                              "skill_pct": round(100.0 * (1.0 - mae / base_mae), 1)}))
    maes.append(mae)

print(json.dumps({"summary": "4-fold", "val_mae_s_mean": round(float(np.mean(maes)), 3),
                  "val_mae_s_per_fold": [round(m, 3) for m in maes],
                  "wall_s": round(time.time() - t0, 1)}))
