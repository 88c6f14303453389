"""Cider apple class (bittersweet / bittersharp / sweet / sharp) from juice chemistry.

The four classes follow the Long Ashton scheme on tannin and malic acid, but the
lab only sees noisy measurements of them plus a few related readings, so the
classes overlap near the thresholds.  5-fold cross-validation: each fold builds a
fresh MLP and trains it with sharpness-aware minimisation (SAM, written by hand:
ascend to w + rho * g / |g|, take the gradient there, come back, then AdamW).

Progress is written as logfmt lines (key=value pairs), one event per line.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

CLASSES = ["bittersweet", "bittersharp", "sweet", "sharp"]
FOLDS = 5
EPOCHS = 16
BATCH = 64
RHO = 0.05
SMOOTH = 0.1
T0 = time.perf_counter()


def logfmt(msg, **kv):
    parts = [f"t={time.perf_counter() - T0:07.3f}", "level=info", f"msg={msg}"]
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        elif isinstance(v, str) and (" " in v or "=" in v):
            v = '"' + v + '"'
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def make_juice(n, rng):
    tannin = rng.lognormal(np.log(0.18), 0.55, n)          # % w/v
    malic = rng.lognormal(np.log(0.45), 0.45, n)           # % w/v
    label = np.where(tannin > 0.2, np.where(malic < 0.45, 0, 1), np.where(malic < 0.45, 2, 3))
    meas_t = tannin * rng.lognormal(0, 0.12, n)
    meas_m = malic * rng.lognormal(0, 0.12, n)
    brix = 11.5 + 1.5 * rng.standard_normal(n) - 1.2 * (malic - 0.45)
    ph = 3.9 - 0.9 * np.log(malic / 0.45) + 0.08 * rng.standard_normal(n)
    phenolics = 900 * tannin + 150 * rng.standard_normal(n) + 400
    nitrogen = rng.gamma(4.0, 25.0, n)
    week = rng.integers(36, 46, n).astype(float)
    X = np.stack([np.log(meas_t), np.log(meas_m), brix, ph, phenolics, nitrogen, week], 1)
    return X.astype(np.float32), label.astype(np.int32)


def build():
    return nn.Sequential(
        nn.Linear(7, 64), nn.GELU(),
        nn.Linear(64, 64), nn.GELU(),
        nn.Linear(64, 4),
    )


def loss_fn(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y, label_smoothing=SMOOTH))


def err_pct(model, x, y):
    return 100.0 * float(mx.mean(mx.argmax(model(x), axis=1) != y))


def sam_step(model, opt, lg, x, y):
    loss, g = lg(model, x, y)
    gnorm = mx.sqrt(sum(mx.sum(v * v) for _, v in tree_flatten(g)))
    scale = RHO / (gnorm + 1e-12)
    w = model.trainable_parameters()
    model.update(tree_map(lambda p, gi: p + scale * gi, w, g))
    loss_adv, g_adv = lg(model, x, y)
    model.update(w)
    opt.update(model, g_adv)
    return loss, loss_adv


def run_fold(k, Xtr, ytr, Xva, yva, rng, check_grads):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    xtr = mx.array((Xtr - mu) / sd)
    xva = mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)

    mx.random.seed(100 + k)
    model = build()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
    lg = nn.value_and_grad(model, loss_fn)

    if check_grads:
        _, g = lg(model, xtr[:BATCH], ytr_m[:BATCH])
        flat = tree_flatten(g)
        nz = sum(1 for _, v in flat if float(mx.max(mx.abs(v))) > 0)
        logfmt("grad_check", fold=k, nonzero_leaves=f"{nz}/{len(flat)}")

    logfmt("fold_start", fold=k, train=len(ytr), val=len(yva),
           val_err_pct=err_pct(model, xva, yva_m))
    n = len(ytr)
    nb = n // BATCH
    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(n).astype(np.int32))
        tot, tot_adv = 0.0, 0.0
        for b in range(nb):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, loss_adv = sam_step(model, opt, lg, xtr[idx], ytr_m[idx])
            mx.eval(model.parameters(), opt.state, loss, loss_adv)
            tot += loss.item()
            tot_adv += loss_adv.item()
        if ep in (1, 2, 4, 7, 10, EPOCHS):
            logfmt("epoch", fold=k, epoch=ep, train_ls_ce=tot / nb,
                   sharpness=(tot_adv - tot) / nb,
                   val_err_pct=err_pct(model, xva, yva_m))
    e = err_pct(model, xva, yva_m)
    logfmt("fold_done", fold=k, val_err_pct=e)
    return e


def main():
    rng = np.random.default_rng(2024)
    X, y = make_juice(4000, rng)
    counts = np.bincount(y, minlength=4)
    logfmt("data", rows=len(y), **{c: int(n) for c, n in zip(CLASSES, counts)},
           majority_err_pct=100.0 * (1 - counts.max() / len(y)))

    order = rng.permutation(len(y))
    folds = np.array_split(order, FOLDS)
    errs = []
    for k in range(FOLDS):
        va = folds[k]
        tr = np.concatenate([folds[j] for j in range(FOLDS) if j != k])
        errs.append(run_fold(k + 1, X[tr], y[tr], X[va], y[va], rng, check_grads=(k == 0)))
    logfmt("cv_done", folds=FOLDS, val_err_pct_mean=float(np.mean(errs)),
           val_err_pct_sd=float(np.std(errs, ddof=1)), secs=time.perf_counter() - T0)


if __name__ == "__main__":
    main()
