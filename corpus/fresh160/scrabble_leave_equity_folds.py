"""Scrabble rack-leave equity.

After a play you keep some tiles (the "leave").  Good leaves (balanced vowels,
an S or a blank) are worth points on later turns; bad ones (QU without U,
duplicates, all consonants) cost points.  We fit a small MLP that maps the
7-tile leave, as a 27-bin tile count vector (A..Z + blank), to its equity in
points, using 4-fold cross validation.  Each fold starts from a fresh model,
a learning rate that warms up from exactly 0, and early stopping that restores
the best weights on the held-out fold.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(7)
mx.random.seed(7)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ?"
BAG = {"A": 9, "B": 2, "C": 2, "D": 4, "E": 12, "F": 2, "G": 3, "H": 2, "I": 9,
       "J": 1, "K": 1, "L": 4, "M": 2, "N": 6, "O": 8, "P": 2, "Q": 1, "R": 6,
       "S": 4, "T": 6, "U": 4, "V": 2, "W": 2, "X": 1, "Y": 2, "Z": 1, "?": 2}
POOL = [c for c, n in BAG.items() for _ in range(n)]
VOWELS = set("AEIOU")
GOOD = {"S": 7.5, "?": 24.0, "E": 3.5, "R": 1.9, "Z": 2.1, "X": 3.3, "H": 1.1}
BAD = {"Q": -6.8, "V": -4.6, "W": -3.8, "U": -3.1, "J": -1.5, "C": 0.3, "G": -2.0}


def leave_equity(tiles):
    """Made-up but structured equity law (points)."""
    v = 0.0
    for t in tiles:
        v += GOOD.get(t, BAD.get(t, 0.0))
    nv = sum(t in VOWELS for t in tiles)
    nc = sum(t not in VOWELS and t != "?" for t in tiles)
    if tiles:
        v -= 2.2 * abs(nv - 0.42 * len(tiles)) ** 1.5   # vowel balance
    for t in set(tiles):
        k = tiles.count(t)
        if k > 1:
            v -= 2.5 * (k - 1) ** 1.3                    # duplicates hurt
    if "Q" in tiles and "U" in tiles:
        v += 5.0                                         # QU synergy
    if nc == len(tiles) and len(tiles) >= 3:
        v -= 4.0
    return v + random.gauss(0.0, 1.0)


def make_data(n):
    xs, ys = [], []
    for _ in range(n):
        k = random.randint(1, 6)
        tiles = random.sample(POOL, k)
        x = [0.0] * 27
        for t in tiles:
            x[LETTERS.index(t)] += 1.0
        xs.append(x)
        ys.append(leave_equity(tiles))
    return mx.array(xs), mx.array(ys)


X, Y = make_data(2400)
N_FOLDS = 4
fold_size = X.shape[0] // N_FOLDS


class LeaveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(27, 64)
        self.mid = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.embed(x))
        h = h + nn.gelu(self.mid(h))
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=3.0, reduction="mean")


def rmse(model, x, y):
    return math.sqrt(mx.mean((model(x) - y) ** 2).item())


EPOCHS = 60
BATCH = 64
PATIENCE = 5
summary = []
for fold in range(N_FOLDS):
    idx = list(range(X.shape[0]))
    val_idx = idx[fold * fold_size:(fold + 1) * fold_size]
    tr_idx = idx[:fold * fold_size] + idx[(fold + 1) * fold_size:]
    Xtr, Ytr = X[mx.array(tr_idx)], Y[mx.array(tr_idx)]
    Xva, Yva = X[mx.array(val_idx)], Y[mx.array(val_idx)]
    baseline = math.sqrt(mx.mean((Yva - mx.mean(Ytr)) ** 2).item())

    model = LeaveNet()
    mx.eval(model.parameters())
    steps_per_epoch = Xtr.shape[0] // BATCH
    warm = optim.linear_schedule(0.0, 3e-3, 3 * steps_per_epoch)
    decay = optim.cosine_decay(3e-3, (EPOCHS - 3) * steps_per_epoch, 1e-4)
    sched = optim.join_schedules([warm, decay], [3 * steps_per_epoch])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    if fold == 0:
        _, g = step_fn(model, Xtr[:BATCH], Ytr[:BATCH])
        zero = [k for k, v in tree_flatten(g) if mx.abs(v).sum().item() == 0.0]
        print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g)),
                          "all_zero": zero}))

    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    for ep in range(EPOCHS):
        perm = mx.random.permutation(Xtr.shape[0])
        tot = 0.0
        for b in range(steps_per_epoch):
            sel = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[sel], Ytr[sel])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        va = rmse(model, Xva, Yva)
        lr_now = opt.learning_rate.item()
        print(json.dumps({"fold": fold, "epoch": ep, "lr": round(lr_now, 6),
                          "train_huber": round(tot / steps_per_epoch, 4),
                          "val_rmse_pts": round(va, 4),
                          "mean_predictor_rmse_pts": round(baseline, 4)}))
        if va < best - 5e-3:
            best, best_ep, wait = va, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
            if wait >= PATIENCE:
                print(json.dumps({"fold": fold, "event": "early_stop", "epoch": ep,
                                  "restore_epoch": best_ep}))
                break
    model.update(best_w)
    restored = rmse(model, Xva, Yva)
    summary.append(restored)
    print(json.dumps({"fold": fold, "event": "restored", "val_rmse_pts": round(restored, 4),
                      "skill_vs_mean_pct": round(100 * (1 - restored / baseline), 1)}))

print(json.dumps({"event": "cv_summary", "folds": N_FOLDS,
                  "val_rmse_mean": round(sum(summary) / len(summary), 4),
                  "val_rmse_each": [round(s, 4) for s in summary]}))
