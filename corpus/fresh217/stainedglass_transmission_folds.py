"""Stained-glass studio: predict light transmission (%) of a fired glass piece.

Synthetic workshop log: 7 features per piece (pigment load, glass thickness,
number of firings, iron oxide, flashed layer, grisaille coverage, kiln peak).
3-fold cross-validation; each fold warms the learning rate up from exactly 0,
then cosine-decays it; early stopping restores the best validation weights.
Output is one JSON object per line.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(217)
N = 2400
pigment = rng.uniform(0, 1, N)
thick = rng.uniform(2.0, 6.0, N)          # mm
firings = rng.integers(1, 5, N).astype(np.float64)
iron = rng.gamma(2.0, 0.15, N)
flashed = (rng.uniform(0, 1, N) < 0.3).astype(np.float64)
grisaille = rng.beta(2, 5, N)
kiln = rng.normal(640, 15, N)             # deg C
# made-up optical law (Beer-Lambert-ish) + noise, in percent
absorb = 0.9 * pigment * thick + 0.6 * iron * thick + 0.8 * flashed + 2.2 * grisaille
absorb += 0.05 * (firings - 1) + 0.004 * np.abs(kiln - 640)
trans = 92.0 * np.exp(-absorb) + rng.normal(0, 1.2, N)
trans = np.clip(trans, 0.5, 95.0)

X = np.stack([pigment, thick, firings, iron, flashed, grisaille, kiln], 1)
X = (X - X.mean(0)) / X.std(0)
y = trans.astype(np.float32)
y_mu, y_sd = float(y.mean()), float(y.std())


class TransNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


folds = np.array_split(rng.permutation(N), 3)
EPOCHS, BATCH, PEAK, WARM, PATIENCE = 40, 64, 3e-3, 120, 6
t0 = time.time()
fold_r2 = []
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, Xva = mx.array(X[tr_idx], dtype=mx.float32), mx.array(X[va_idx], dtype=mx.float32)
    ytr = mx.array((y[tr_idx] - y_mu) / y_sd)
    yva_pct = y[va_idx]

    mx.random.seed(100 + k)
    model = TransNet()
    steps_per_epoch = len(tr_idx) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = optim.linear_schedule(0.0, PEAK, WARM)
    decay = optim.cosine_decay(PEAK, total - WARM, 1e-5)
    opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [WARM]))
    mx.eval(model.parameters())

    # one-off gradient audit: every layer must receive gradient
    _, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
    zero = [n for n, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
    print(json.dumps({"event": "grad_audit", "fold": k, "tensors": len(tree_flatten(g0)),
                      "zero_grad": zero}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    baseline_rmse = float(np.sqrt(np.mean((yva_pct - y[tr_idx].mean()) ** 2)))
    best, best_ep, best_w, bad = math.inf, -1, None, 0
    for ep in range(EPOCHS):
        perm = mx.array(np.random.default_rng(1000 * k + ep).permutation(len(tr_idx)))
        tot = mx.array(0.0)
        for i in range(steps_per_epoch):
            ib = perm[i * BATCH:(i + 1) * BATCH]
            loss = step(Xtr[ib], ytr[ib])
            mx.eval(loss, model.parameters(), opt.state)
            tot = tot + loss
        pred = np.array(model(Xva)) * y_sd + y_mu
        rmse = float(np.sqrt(np.mean((pred - yva_pct) ** 2)))
        r2 = 100.0 * (1.0 - np.mean((pred - yva_pct) ** 2) / np.var(yva_pct))
        lr_now = float(opt.learning_rate)
        print(json.dumps({"fold": k, "epoch": ep, "step": int(opt.step),
                          "lr": round(lr_now, 7), "train_huber": round(float(tot) / steps_per_epoch, 5),
                          "val_rmse_pct": round(rmse, 3), "ref_rmse_pct": round(baseline_rmse, 3),
                          "val_r2_pct": round(float(r2), 2)}))
        if rmse < best - 1e-3:
            best, best_ep, bad = rmse, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= PATIENCE:
                print(json.dumps({"event": "early_stop", "fold": k, "epoch": ep, "best_epoch": best_ep}))
                break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(model(Xva)) * y_sd + y_mu
    r2 = 100.0 * (1.0 - np.mean((pred - yva_pct) ** 2) / np.var(yva_pct))
    fold_r2.append(r2)
    print(json.dumps({"event": "fold_done", "fold": k, "restored_epoch": best_ep,
                      "val_rmse_pct": round(float(np.sqrt(np.mean((pred - yva_pct) ** 2))), 3),
                      "val_r2_pct": round(float(r2), 2)}))

print(json.dumps({"event": "summary", "mean_r2_pct": round(float(np.mean(fold_r2)), 2),
                  "folds": [round(float(r), 2) for r in fold_r2], "seconds": round(time.time() - t0, 1)}))
