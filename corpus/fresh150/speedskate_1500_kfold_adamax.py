"""Predict a 1500 m long-track speed-skating finish time from the opening splits.

Synthetic race sheets (300 m / 700 m / 1100 m passing times, ice temperature,
venue altitude, season best, start lane).  5-fold cross-validation, a small MLP
that predicts the final time, Adamax with a warm-up that starts at exactly 0,
early stopping on the validation fold with the best weights restored.
Every epoch is one JSON line; the naive "last lap = previous lap" pace rule is
printed next to it for comparison.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = random.Random(1500)
mx.random.seed(1500)


def make_race(rng):
    alt = rng.choice([0.0, 0.0, 0.0, 1.4])          # km, Calgary/SLC-like rinks
    ice = rng.uniform(-8.0, -4.0)                   # deg C
    sb = rng.gauss(107.0, 2.2)                      # season best (s)
    lane = rng.choice([0.0, 1.0])                   # 1 = inner start
    talent = (107.0 - sb) / 2.2
    t300 = 25.2 - 0.35 * talent - 0.45 * alt + 0.25 * lane + rng.gauss(0, 0.35)
    lap2 = 26.0 - 0.45 * talent - 0.7 * alt + 0.05 * (ice + 6) + rng.gauss(0, 0.35)
    lap3 = lap2 + 0.9 + 0.6 * max(0.0, 25.0 - t300) + rng.gauss(0, 0.3)
    # fatigue: an aggressive opener costs time on the last lap
    fatigue = max(0.0, 25.0 - t300) ** 2 * 0.9 + max(0.0, 26.0 - lap2) * 0.6
    lap4 = lap3 + 1.1 + fatigue - 0.3 * alt + rng.gauss(0, 0.3)
    t700 = t300 + lap2
    t1100 = t700 + lap3
    final = t1100 + lap4
    feats = [t300, t700, t1100, ice, alt, sb, lane, lap3 - lap2]
    return feats, final, t1100 + (t1100 - t700)


races = [make_race(rng) for _ in range(640)]
X_all = mx.array([r[0] for r in races])
y_all = mx.array([r[1] for r in races])
naive_all = mx.array([r[2] for r in races])


class SplitNet(nn.Module):
    def __init__(self, d_in=8, h=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


K = 5
N = X_all.shape[0]
perm = list(range(N))
rng.shuffle(perm)
fold_of = [i % K for i in range(N)]
BATCH = 64
MAX_EPOCHS = 60
PATIENCE = 8

fold_results = []
for fold in range(K):
    tr_idx = mx.array([perm[i] for i in range(N) if fold_of[i] != fold])
    va_idx = mx.array([perm[i] for i in range(N) if fold_of[i] == fold])
    Xtr, ytr = X_all[tr_idx], y_all[tr_idx]
    Xva, yva = X_all[va_idx], y_all[va_idx]
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-6
    ymu, ysd = ytr.mean(), ytr.std()
    Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
    ytr_n = (ytr - ymu) / ysd
    naive_mae = mx.abs(naive_all[va_idx] - yva).mean().item()

    model = SplitNet()
    mx.eval(model.parameters())
    steps_per_epoch = math.ceil(Xtr.shape[0] / BATCH)
    warm = 3 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm),
         optim.cosine_decay(4e-3, MAX_EPOCHS * steps_per_epoch - warm, 2e-4)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    best_val, best_epoch, best_params, bad = float("inf"), -1, None, 0
    for epoch in range(MAX_EPOCHS):
        order = mx.random.permutation(Xtr.shape[0])
        run, nb = 0.0, 0
        for s in range(0, Xtr.shape[0], BATCH):
            bi = order[s:s + BATCH]
            loss, grads = step_fn(model, Xtr_n[bi], ytr_n[bi])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        pred_va = model(Xva_n) * ysd + ymu
        val_mae = mx.abs(pred_va - yva).mean().item()
        pred_tr = model(Xtr_n) * ysd + ymu
        tr_mae = mx.abs(pred_tr - ytr).mean().item()
        print(json.dumps({"fold": fold + 1, "epoch": epoch, "lr": round(opt.learning_rate.item(), 6),
                          "huber": round(run / nb, 4), "train_mae_s": round(tr_mae, 3),
                          "val_mae_s": round(val_mae, 3), "pace_rule_mae_s": round(naive_mae, 3)}))
        if val_mae < best_val - 1e-4:
            best_val, best_epoch, bad = val_mae, epoch, 0
            best_params = tree_map(lambda a: a * 1.0, model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= PATIENCE:
                print(json.dumps({"fold": fold + 1, "event": "early_stop", "epoch": epoch,
                                  "restore_epoch": best_epoch}))
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = mx.abs(model(Xva_n) * ysd + ymu - yva).mean().item()
    fold_results.append((restored, naive_mae))
    print(json.dumps({"fold": fold + 1, "event": "fold_done", "restored_val_mae_s": round(restored, 3),
                      "pace_rule_mae_s": round(naive_mae, 3)}))

m = sum(r[0] for r in fold_results) / K
b = sum(r[1] for r in fold_results) / K
print(json.dumps({"event": "cv_summary", "folds": K, "mean_val_mae_s": round(m, 3),
                  "mean_pace_rule_mae_s": round(b, 3), "gain_pct": round(100 * (1 - m / b), 1)}))
