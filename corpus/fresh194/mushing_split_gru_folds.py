"""Sled-dog race: predict each leg's split time (minutes) from trail features.

A GRU reads the legs of one race in order (fatigue carries over), trained with
Adagrad under a linear warm-up that starts at exactly zero, 3-fold CV over
teams, per-fold early stopping that restores the best weights.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s mush: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("mush")

rng = np.random.default_rng(11)
N_TEAMS, LEGS, F = 480, 8, 4
dist = rng.uniform(20, 60, (N_TEAMS, LEGS))          # km
climb = rng.uniform(0, 900, (N_TEAMS, LEGS))         # m
snow = rng.uniform(5, 60, (N_TEAMS, LEGS))           # cm fresh snow
temp = rng.uniform(-35, -2, (N_TEAMS, LEGS))         # deg C
fit = rng.normal(0, 1, (N_TEAMS, 1))
fatigue = np.cumsum(dist, axis=1) / 100.0
pace = 2.6 + 0.0012 * climb / dist * 10 + 0.012 * snow + 0.01 * np.abs(temp + 15) + 0.25 * fatigue - 0.15 * fit
split = dist * pace + rng.normal(0, 4, (N_TEAMS, LEGS))  # minutes
X = np.stack([dist / 40 - 1, climb / 450 - 1, snow / 30 - 1, temp / 15 + 1.2], axis=-1).astype(np.float32)
# the team's first-leg time is known (it reveals fitness), so give it as a 5th channel
first = np.repeat(((split[:, :1] - 120) / 40), LEGS, axis=1)[..., None].astype(np.float32)
X = np.concatenate([X, first], axis=-1)
Y = ((split - 120) / 40).astype(np.float32)


class SplitGRU(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.inp = nn.Linear(F + 1, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.head(self.gru(nn.silu(self.inp(x)))).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def mae_minutes(model, x, y):
    return (mx.abs(model(x) - y).mean() * 40).item()


folds = np.array_split(rng.permutation(N_TEAMS), 3)
fold_scores = []
for k in range(3):
    val_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, Ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    Xva, Yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
    baseline = float(np.abs(Y[val_idx] - Y[tr_idx].mean(axis=0)).mean() * 40)

    mx.random.seed(100 + k)
    model = SplitGRU()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 0.08, 60)
    opt = optim.Adagrad(learning_rate=warm)
    step = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g = step(model, Xtr[:32], Ytr[:32])
        flat = tree_flatten(g)
        nz = sum(1 for _, v in flat if mx.abs(v).sum().item() > 0)
        log.info("grad check: %d/%d tensors with non-zero gradient", nz, len(flat))

    best, best_state, bad, patience = math.inf, None, 0, 6
    log.info("fold %d/3 start | train %d teams | val %d | mean-predictor MAE %.1f min",
             k + 1, len(tr_idx), len(val_idx), baseline)
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for i in range(0, len(tr_idx), 32):
            b = perm[i:i + 32]
            loss, grads = step(model, Xtr[b], Ytr[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.size
        val = mae_minutes(model, Xva, Yva)
        if val < best - 0.05:
            best, bad = val, 0
            best_state = dict(tree_flatten(model.parameters()))
        else:
            bad += 1
        if epoch % 5 == 0 or epoch == 1:
            log.info("fold %d ep %02d lr=%.4f huber=%.4f val_mae=%.2f min (best %.2f)",
                     k + 1, epoch, opt.learning_rate.item(), tot / len(tr_idx), val, best)
        if bad >= patience:
            log.info("fold %d early stop at epoch %d, restoring epoch with MAE %.2f", k + 1, epoch, best)
            break
    model.load_weights(list(best_state.items()))
    restored = mae_minutes(model, Xva, Yva)
    fold_scores.append(restored)
    log.info("fold %d done: restored val MAE %.2f min vs baseline %.1f min (%.0f%% lower)",
             k + 1, restored, baseline, 100 * (1 - restored / baseline))

log.info("CV summary: MAE %s -> mean %.2f min", ", ".join(f"{s:.2f}" for s in fold_scores),
         sum(fold_scores) / 3)
