# Type-foundry toy: learn embeddings for newly cut glyphs (accents, ligature
# parts) from pair "affinity" scores against the already-cut base alphabet.
# The 26 base glyph vectors come from an earlier fit and are frozen on purpose;
# only the new rows and all biases train. Gradients are gathered per row and
# scattered back with .at[].add (duplicates in a batch accumulate), then a
# hand-written Adagrad applies them. Early stopping restores the best epoch.
import json
import math
import random

import mlx.core as mx
import numpy as np

rng = np.random.default_rng(228)
random.seed(228)
mx.random.seed(228)

N_BASE, N_NEW, K = 26, 14, 6
V = N_BASE + N_NEW

true_E = rng.normal(0, 0.6, size=(V, K)).astype(np.float32)
true_b = rng.normal(0, 0.3, size=(V,)).astype(np.float32)


def make_pairs(n):
    # every pair touches at least one new glyph; about half pair a new glyph with a base one
    left = rng.integers(N_BASE, V, size=n)
    right = np.where(rng.random(n) < 0.55, rng.integers(0, N_BASE, size=n), rng.integers(0, V, size=n))
    swap = rng.random(n) < 0.5
    l = np.where(swap, right, left)
    r = np.where(swap, left, right)
    y = (true_E[l] * true_E[r]).sum(1) + true_b[l] + true_b[r] + rng.normal(0, 0.15, size=n)
    return mx.array(l.astype(np.int32)), mx.array(r.astype(np.int32)), mx.array(y.astype(np.float32))


tr_l, tr_r, tr_y = make_pairs(2400)
va_l, va_r, va_y = make_pairs(600)

# base rows copied from the "earlier fit" (truth plus a little fitting error), new rows random
E0 = true_E.copy()
E0[:N_BASE] += rng.normal(0, 0.02, size=(N_BASE, K)).astype(np.float32)
E0[N_BASE:] = rng.normal(0, 0.1, size=(N_NEW, K)).astype(np.float32)
E = mx.array(E0)
b = mx.zeros((V,))
row_mask = mx.array(np.r_[np.zeros(N_BASE), np.ones(N_NEW)].astype(np.float32))[:, None]
base_snapshot = mx.array(E0[:N_BASE])

acc_E = mx.zeros_like(E)
acc_b = mx.zeros_like(b)


def pair_loss(el, er, bl, br, y):
    pred = (el * er).sum(axis=1) + bl + br
    return mx.mean(mx.square(pred - y))


row_grad = mx.value_and_grad(pair_loss, argnums=(0, 1, 2, 3))


def rmse(E, b, l, r, y):
    pred = (E[l] * E[r]).sum(axis=1) + b[l] + b[r]
    return mx.sqrt(mx.mean(mx.square(pred - y)))


baseline = float(mx.sqrt(mx.mean(mx.square(va_y - mx.mean(tr_y)))))
lr0, eps, batch = 0.08, 1e-8, 64
patience, best, best_epoch, bad = 6, math.inf, -1, 0
best_E, best_b = E, b
n = tr_y.shape[0]

for epoch in range(1, 61):
    perm = mx.array(np.random.default_rng(epoch).permutation(n).astype(np.int32))
    lr = lr0 / math.sqrt(1.0 + 0.05 * (epoch - 1))
    tot, steps = 0.0, 0
    for s in range(0, n, batch):
        idx = perm[s : s + batch]
        l, r, y = tr_l[idx], tr_r[idx], tr_y[idx]
        loss, (gel, ger, gbl, gbr) = row_grad(E[l], E[r], b[l], b[r], y)
        gE = mx.zeros_like(E).at[l].add(gel).at[r].add(ger) * row_mask
        gb = mx.zeros_like(b).at[l].add(gbl).at[r].add(gbr)
        acc_E = acc_E + gE * gE
        acc_b = acc_b + gb * gb
        E = E - lr * gE / (mx.sqrt(acc_E) + eps)
        b = b - lr * gb / (mx.sqrt(acc_b) + eps)
        mx.eval(E, b, acc_E, acc_b, loss)
        tot += loss.item()
        steps += 1
    val = rmse(E, b, va_l, va_r, va_y).item()
    drift = mx.sqrt(mx.sum(mx.square(E[:N_BASE] - base_snapshot))).item()
    new_gap = mx.sqrt(mx.mean(mx.square((E[N_BASE:] * E[N_BASE:]).sum(1) - mx.array((true_E[N_BASE:] ** 2).sum(1))))).item()
    rec = {"epoch": epoch, "lr": round(lr, 5), "train_mse": round(tot / steps, 5),
           "val_rmse": round(val, 5), "mean_baseline_rmse": round(baseline, 5),
           "frozen_rows_drift": round(drift, 7), "new_row_norm_gap": round(new_gap, 4)}
    if val < best - 1e-4:
        best, best_epoch, bad = val, epoch, 0
        best_E, best_b = E, b
        rec["best"] = True
    else:
        bad += 1
    print(json.dumps(rec), flush=True)
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}), flush=True)
        break

E, b = best_E, best_b
final = rmse(E, b, va_l, va_r, va_y).item()
print(json.dumps({"event": "restored", "best_epoch": best_epoch, "val_rmse": round(final, 5),
                  "mean_baseline_rmse": round(baseline, 5), "noise_floor": 0.15}), flush=True)
