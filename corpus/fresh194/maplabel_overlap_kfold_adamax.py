"""Map label placement: predict whether a candidate label position will collide
with other labels/features, 5-fold CV, Adamax, early stopping with restore.
Prints one JSON object per line."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(194)
N = 1500
font_pt = rng.uniform(6, 18, N)
chars = rng.integers(3, 24, N).astype(np.float64)
density = rng.gamma(2.0, 1.5, N)          # neighbouring labels per cm^2
gap_mm = rng.exponential(3.0, N)           # distance to nearest symbol
angle = rng.uniform(-45, 45, N)            # degrees
priority = rng.integers(1, 6, N).astype(np.float64)
zoom = rng.integers(8, 17, N).astype(np.float64)
halo = rng.integers(0, 2, N).astype(np.float64)
box_area = font_pt * chars * 0.35
logit = (0.012 * box_area * density / (1 + 0.08 * (zoom - 8)) - 0.45 * gap_mm
         + 0.02 * np.abs(angle) - 0.25 * priority + 0.6 * halo * (density > 3) - 0.8)
p = 1 / (1 + np.exp(-logit))
y = (rng.uniform(size=N) < p).astype(np.float32)
X = np.stack([font_pt, chars, density, gap_mm, angle, priority, zoom, halo,
              np.log1p(box_area), np.cos(np.deg2rad(angle))], 1).astype(np.float32)


class Placer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 32)
        self.l2 = nn.Linear(32, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.binary_cross_entropy(model(xb), yb, reduction="mean")


def evaluate(model, xv, yv):
    z = model(xv)
    nll = nn.losses.binary_cross_entropy(z, yv, reduction="mean")
    acc = mx.mean((z > 0) == (yv > 0.5))
    mx.eval(nll, acc)
    return nll.item(), 100.0 * acc.item()


folds = np.array_split(rng.permutation(N), 5)
t0 = time.time()
summary = []
checked = False
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-6
    xtr, ytr = mx.array((X[tr] - mu) / sd), mx.array(y[tr])
    xva, yva = mx.array((X[va] - mu) / sd), mx.array(y[va])
    base_acc = 100.0 * float(max(y[va].mean(), 1 - y[va].mean()))  # majority-class baseline

    mx.random.seed(10 + k)
    model = Placer(X.shape[1])
    opt = optim.Adamax(learning_rate=4e-3)
    lg = nn.value_and_grad(model, loss_fn)
    mx.eval(model.parameters())

    if not checked:
        _, g = lg(model, xtr[:128], ytr[:128])
        dead = [n for n, a in tree_flatten(g) if mx.abs(a).sum().item() == 0.0]
        print(json.dumps({"check": "grad_nonzero", "tensors": len(tree_flatten(g)), "zero": dead}))
        checked = True

    best_nll, best_ep, best_params, wait = math.inf, -1, None, 0
    ep = 0
    for ep in range(1, 81):
        perm = mx.array(np.random.default_rng(ep + 100 * k).permutation(len(tr)))
        run = 0.0
        nb = 0
        for s in range(0, len(tr), 64):
            idx = perm[s:s + 64]
            loss, g = lg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        v_nll, v_acc = evaluate(model, xva, yva)
        if v_nll < best_nll - 1e-4:
            best_nll, best_ep, wait = v_nll, ep, 0
            best_params = model.parameters()   # arrays are immutable: a snapshot
        else:
            wait += 1
        if ep % 5 == 0 or ep == 1:
            print(json.dumps({"fold": k, "epoch": ep, "train_bce": round(run / nb, 4),
                              "val_bce": round(v_nll, 4), "val_acc_pct": round(v_acc, 2),
                              "majority_pct": round(base_acc, 2), "patience": wait}))
        if wait >= 8:
            break
    model.update(best_params)
    mx.eval(model.parameters())
    r_nll, r_acc = evaluate(model, xva, yva)
    print(json.dumps({"fold": k, "event": "early_stop", "stopped_at": ep, "restored_epoch": best_ep,
                      "val_bce": round(r_nll, 4), "val_acc_pct": round(r_acc, 2),
                      "gain_over_majority_pts": round(r_acc - base_acc, 2)}))
    summary.append((r_nll, r_acc, base_acc))

arr = np.array(summary)
print(json.dumps({"cv": "5-fold", "mean_val_bce": round(float(arr[:, 0].mean()), 4),
                  "mean_val_acc_pct": round(float(arr[:, 1].mean()), 2),
                  "mean_majority_pct": round(float(arr[:, 2].mean()), 2),
                  "seconds": round(time.time() - t0, 1)}))
