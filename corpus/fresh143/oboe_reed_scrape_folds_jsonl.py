"""Oboe reed bench: predict how many cents a finished reed "crows" off C
from its scrape profile.  4-fold cross-validation, AdamW with a warmup that
starts at lr = 0, early stopping with restore of the best weights per fold.
Everything is logged as JSON lines."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(143)
N = 720
# tip mm, heart mm, back mm, spine width mm, cane density g/cm3, gouge mm,
# staple length mm, room humidity %, days since last soak
tip = rng.normal(0.11, 0.015, N)
heart = rng.normal(0.30, 0.04, N)
back = rng.normal(0.55, 0.05, N)
spine = rng.normal(1.6, 0.3, N)
dens = rng.normal(0.62, 0.04, N)
gouge = rng.normal(0.58, 0.03, N)
staple = rng.normal(47.0, 0.5, N)
humid = rng.uniform(30, 75, N)
soak = rng.integers(0, 15, N).astype(np.float64)

cents = (
    -260.0 * (tip - 0.11)
    + 180.0 * (heart - 0.30)
    + 55.0 * np.tanh((back - 0.55) / 0.05)
    + 9.0 * (spine - 1.6) ** 2
    + 140.0 * (dens - 0.62)
    - 22.0 * (staple - 47.0)
    - 0.35 * (humid - 50.0)
    + 6.0 * np.log1p(soak)
    + 30.0 * (gouge - 0.58) * (heart - 0.30) / 0.003
    + rng.normal(0, 4.0, N)
)
X = np.stack([tip, heart, back, spine, dens, gouge, staple, humid, soak], 1)
y = cents[:, None]

FOLDS, MAX_EPOCHS, BATCH, PATIENCE = 4, 60, 32, 8
order = rng.permutation(N)
fold_idx = np.array_split(order, FOLDS)


class ReedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(9, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def emit(**kw):
    print(json.dumps(kw), flush=True)


t0 = time.time()
fold_scores = []
for f in range(FOLDS):
    mx.random.seed(10 + f)
    va = fold_idx[f]
    tr = np.concatenate([fold_idx[j] for j in range(FOLDS) if j != f])
    mu, sd = X[tr].mean(0), X[tr].std(0)
    ymu, ysd = y[tr].mean(), y[tr].std()
    Xtr = mx.array(((X[tr] - mu) / sd).astype(np.float32))
    Ytr = mx.array(((y[tr] - ymu) / ysd).astype(np.float32))
    Xva = mx.array(((X[va] - mu) / sd).astype(np.float32))
    yva = y[va]
    baseline_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))

    model = ReedNet()
    mx.eval(model.parameters())
    steps_per_epoch = math.ceil(len(tr) / BATCH)
    warm = optim.linear_schedule(0.0, 3e-3, 40)
    cos = optim.cosine_decay(3e-3, MAX_EPOCHS * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, cos], [40]),
                      weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    if f == 0:
        _, g0 = vg(model, Xtr[:64], Ytr[:64])
        dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
        emit(check="grad_nonzero", tensors=len(tree_flatten(g0)), zero=dead)

    best, best_epoch, best_w, bad = float("inf"), 0, None, 0
    step = 0
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            lr_now = float(opt.learning_rate)
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
            step += 1
            if step == 1:
                emit(fold=f + 1, step=step, lr=lr_now, batch_mse=round(loss.item(), 4))
        pred = np.array(model(Xva)) * ysd + ymu
        rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
        if rmse < best - 1e-3:
            best, best_epoch, bad = rmse, epoch, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
        if epoch % 5 == 0 or epoch == 1 or bad == PATIENCE:
            emit(fold=f + 1, epoch=epoch, step=step, lr=round(float(opt.learning_rate), 6),
                 train_mse_z=round(tot / len(tr), 4), val_rmse_cents=round(rmse, 2),
                 mean_baseline_cents=round(baseline_rmse, 2), stale=bad)
        if bad == PATIENCE:
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(model(Xva)) * ysd + ymu
    restored = float(np.sqrt(np.mean((pred - yva) ** 2)))
    emit(fold=f + 1, event="restore", best_epoch=best_epoch, stopped_epoch=epoch,
         val_rmse_cents=round(restored, 2), mean_baseline_cents=round(baseline_rmse, 2),
         skill_pct=round(100 * (1 - restored / baseline_rmse), 1))
    fold_scores.append(restored)

emit(summary="cv", folds=FOLDS, rmse_cents_mean=round(float(np.mean(fold_scores)), 2),
     rmse_cents_sd=round(float(np.std(fold_scores)), 2), noise_floor_cents=4.0,
     seconds=round(time.time() - t0, 1))
