"""Marina pontoon mooring lines: peak line tension (kN) per storm hour, 4-fold cross-validation.

Inputs: significant wave height, peak period, mean wind, gust factor, tide level, boat
length, chain-or-rope flag, line age.  Made-up law with multiplicative noise; the target is
log-tension, standardised per fold.

Each fold trains a fresh model from scratch (its own optimizer and its own compiled step),
stops early on its validation split and restores the best weights before scoring the
held-out fold.  The hidden activation is a 'symlog' unit written with mx.custom_function
and a hand-written vjp.  Output: CSV rows on stdout (one header, one row per epoch per
fold, then one summary row per fold and a mean row).
"""
import csv
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


@mx.custom_function
def symlog(x):
    return mx.sign(x) * mx.log1p(mx.abs(x))


@symlog.vjp
def symlog_vjp(x, cotangent, output):
    # single-input custom_function: the primal and the cotangent arrive as bare arrays
    return cotangent / (1.0 + mx.abs(x))


# finite-difference check of the hand-written derivative
_x = mx.array([-2.0, -0.3, 0.4, 3.0])
_g = mx.grad(lambda v: symlog(v).sum())(_x)
_fd = (symlog(_x + 1e-3) - symlog(_x - 1e-3)) / 2e-3
assert float(mx.abs(_g - _fd).max()) < 1e-3, (_g, _fd)


class TensionNet(nn.Module):
    def __init__(self, d_in=8, h=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = symlog(self.l1(x))
        x = symlog(self.l2(x))
        return self.out(x).squeeze(-1)


def storm_hours(n, rng):
    hs = rng.gamma(2.0, 0.6, n)
    tp = rng.uniform(3.0, 11.0, n)
    wind = rng.gamma(3.0, 4.0, n)
    gust = rng.uniform(1.1, 1.8, n)
    tide = rng.uniform(-1.5, 1.5, n)
    boat = rng.uniform(6.0, 22.0, n)
    chain = rng.integers(0, 2, n).astype(float)
    age = rng.uniform(0.0, 12.0, n)
    log_t = (0.9 * np.log1p(hs) + 0.25 * np.log(tp) + 0.0018 * (wind * gust) ** 1.4 / 10
             + 0.08 * np.abs(tide) + 0.045 * boat + 0.35 * chain * np.tanh(hs)
             - 0.02 * age + 0.5)
    log_t = log_t + rng.normal(0.0, 0.12, n)
    x = np.stack([hs, tp, wind, gust, tide, boat, chain, age], axis=1)
    return x.astype(np.float32), log_t.astype(np.float32)


rng = np.random.default_rng(20260)
X_all, y_all = storm_hours(8000, rng)
FOLDS, EPOCHS, BATCH, PATIENCE = 4, 14, 64, 3
fold_of = rng.permutation(len(y_all)) % FOLDS

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["fold", "epoch", "lr", "train_mse_std", "val_mse_std", "best", "sec"])

summary = []
for fold in range(FOLDS):
    t0 = time.time()
    test_mask = fold_of == fold
    rest = np.flatnonzero(~test_mask)
    rng.shuffle(rest)
    n_val = len(rest) // 8
    val_i, tr_i = rest[:n_val], rest[n_val:]
    xm, xs = X_all[tr_i].mean(0), X_all[tr_i].std(0)
    ym, ys = y_all[tr_i].mean(), y_all[tr_i].std()

    def prep(ix):
        return mx.array((X_all[ix] - xm) / xs), mx.array((y_all[ix] - ym) / ys)

    x_tr, y_tr = prep(tr_i)
    x_va, y_va = prep(val_i)
    x_te, y_te = prep(np.flatnonzero(test_mask))

    mx.random.seed(100 + fold)
    model = TensionNet()
    mx.eval(model.parameters())
    steps_per_epoch = x_tr.shape[0] // BATCH
    sched = optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch, 3e-5)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    if fold == 0:
        _, g = nn.value_and_grad(model, loss_fn)(model, x_tr[:BATCH], y_tr[:BATCH])
        zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
        print(f"# symlog vjp ok; {len(tree_flatten(g))} gradient leaves, zero: {zero or 'none'}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        opt.update(model, grads)
        return loss

    best_val, best_params, waited, best_epoch = float("inf"), None, 0, 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        run = 0.0
        for s in range(steps_per_epoch):
            ids = perm[s * BATCH:(s + 1) * BATCH]
            loss = train_step(x_tr[ids], y_tr[ids])
            mx.eval(state, loss)
            run += loss.item()
        val = nn.losses.mse_loss(model(x_va), y_va).item()
        improved = val < best_val
        if improved:
            best_val, best_epoch, waited = val, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            waited += 1
        out.writerow([fold, epoch, f"{opt.learning_rate.item():.2e}", f"{run / steps_per_epoch:.5f}",
                      f"{val:.5f}", "*" if improved else "", f"{time.time() - t0:.1f}"])
        if waited >= PATIENCE:
            break

    model.update(best_params)
    mx.eval(model.parameters())
    pred = np.array(model(x_te)) * ys + ym
    true = np.array(y_te) * ys + ym
    kn_pred, kn_true = np.exp(pred), np.exp(true)
    mape = float(np.mean(np.abs(kn_pred - kn_true) / kn_true) * 100)
    r2 = 1.0 - float(np.mean((pred - true) ** 2) / np.var(true))
    summary.append((fold, best_epoch, best_val, mape, r2))

out.writerow([])
out.writerow(["fold", "best_epoch", "best_val_mse_std", "test_mape_pct", "test_r2_log"])
for f, be, bv, mape, r2 in summary:
    out.writerow([f, be, f"{bv:.5f}", f"{mape:.2f}", f"{r2:.4f}"])
out.writerow(["mean", "", f"{np.mean([s[2] for s in summary]):.5f}",
              f"{np.mean([s[3] for s in summary]):.2f}", f"{np.mean([s[4] for s in summary]):.4f}"])
