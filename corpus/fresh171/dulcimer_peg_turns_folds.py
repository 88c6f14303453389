"""Recover tuning-peg turns for the courses of a hammered dulcimer from noisy pitch-meter readings (neighbouring courses ring sympathetically).

4-fold cross-validation; each fold trains a fresh MLP with Lion, a warmup that
starts at exactly lr=0, and early stopping that restores the best weights.
Progress goes out as JSON lines; a table summarises the folds at the end.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(20240611)
N, COURSES, EXTRA = 1600, 5, 3
turns = rng.integers(0, 10, size=(N, COURSES)).astype(np.float32)
pitch = 0.38 * turns + 0.05 * np.roll(turns, -1, axis=1) + rng.normal(0, 0.05, (N, COURSES))
junk = rng.normal(0, 1, (N, EXTRA))
X_all = np.concatenate([pitch, junk], axis=1).astype(np.float32)
X_all = (X_all - X_all.mean(0)) / X_all.std(0)
Y_all = turns
FOLDS, EPOCHS, BATCH, PATIENCE = 4, 60, 64, 8
TOL = 0.5  # in tune when every course is within half a peg turn


class PegHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(COURSES + EXTRA, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, COURSES)

    def __call__(self, x):
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(x)))))


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def in_tune_pct(pred, y):
    ok = mx.all(mx.abs(pred - y) < TOL, axis=1)
    return 100.0 * mx.mean(ok.astype(mx.float32)).item()


idx = rng.permutation(N)
fold_ids = np.array_split(idx, FOLDS)
summary = []
t_all = time.time()
for fold in range(FOLDS):
    va = fold_ids[fold]
    tr = np.concatenate([fold_ids[j] for j in range(FOLDS) if j != fold])
    Xtr, Ytr = mx.array(X_all[tr]), mx.array(Y_all[tr])
    Xva, Yva = mx.array(X_all[va]), mx.array(Y_all[va])
    base_pred = mx.broadcast_to(mx.mean(Ytr, axis=0), Yva.shape)
    base_tune = in_tune_pct(base_pred, Yva)
    base_mse = mx.mean((base_pred - Yva) ** 2).item()

    mx.random.seed(100 + fold)
    model = PegHead()
    mx.eval(model.parameters())
    steps_per_epoch = len(tr) // BATCH
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, 3 * steps_per_epoch),
         optim.cosine_decay(1e-3, (EPOCHS - 3) * steps_per_epoch, 1e-5)],
        [3 * steps_per_epoch])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, mse)

    g0 = vg(model, Xtr[:BATCH], Ytr[:BATCH])[1]
    dead = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
    assert not dead, dead

    best, best_state, best_epoch, waited = float("inf"), None, 0, 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        lr_start = opt.learning_rate.item()
        for b in range(steps_per_epoch):
            sel = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, Xtr[sel], Ytr[sel])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        pred = model(Xva)
        val = mx.mean((pred - Yva) ** 2).item()
        rec = {"fold": fold + 1, "epoch": epoch, "lr": round(lr_start, 7),
               "train_mse": round(tot / steps_per_epoch, 4), "val_mse": round(val, 4),
               "in_tune_pct": round(in_tune_pct(pred, Yva), 2),
               "baseline_in_tune_pct": round(base_tune, 2), "baseline_mse": round(base_mse, 3)}
        print(json.dumps(rec))
        if val < best - 1e-4:
            best, best_epoch, waited = val, epoch, 0
            best_state = tree_map(lambda a: a, model.parameters())
        else:
            waited += 1
            if waited >= PATIENCE:
                print(json.dumps({"fold": fold + 1, "event": "early_stop", "epoch": epoch,
                                  "restore_epoch": best_epoch}))
                break
    model.update(best_state)
    mx.eval(model.parameters())
    pred = model(Xva)
    summary.append((fold + 1, best_epoch, best, in_tune_pct(pred, Yva), base_mse, base_tune))

print("\nfold | best_ep | val_mse | tune%  | base_mse | base_tune%")
for f, e, v, o, bm, bo in summary:
    print(f"{f:4d} | {e:7d} | {v:7.4f} | {o:6.2f} | {bm:8.3f} | {bo:9.2f}")
print(f"mean tune% {np.mean([s[3] for s in summary]):.2f}  ({time.time() - t_all:.1f}s)")
