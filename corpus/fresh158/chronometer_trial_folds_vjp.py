# Greenwich-style chronometer trials: will a marine chronometer pass its 30-day trial?
# 4-fold cross-validation, hand-written RMSprop+momentum, a softplus activation with a
# hand-written VJP, early stopping that restores the best weights of each fold.
import logging
import math

import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("trials")

rng = np.random.default_rng(11)
mx.random.seed(11)

N = 2400
temp_coef = rng.normal(0, 1, N)        # s/day per 10C, compensation quality
age = rng.uniform(0, 12, N)            # years since last overhaul
fusee = rng.integers(0, 2, N)          # fusee fitted (1) or going barrel
balance = rng.normal(0, 1, N)          # balance spring isochronism score
sea_days = rng.uniform(0, 200, N) / 100
maker = rng.normal(0, 1, N)            # workshop reputation
score = (-1.4 * np.abs(temp_coef) - 0.18 * age + 0.9 * fusee + 0.8 * np.tanh(balance)
         - 0.5 * sea_days * (1 - fusee) + 0.4 * maker + 1.1 + rng.logistic(0, 0.5, N))
y_all = (score > 0).astype(np.float32)
X_all = np.stack([temp_coef, age / 6 - 1, fusee * 2 - 1.0, balance, sea_days - 1, maker], 1).astype(np.float32)


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, mx.zeros_like(x))


@softplus.vjp
def softplus_vjp(x, cotangent, output):
    return cotangent * mx.sigmoid(x)


def init_params(key_seed, d_in=6, h=32):
    k = mx.random.split(mx.random.key(key_seed), 3)
    return {
        "w1": mx.random.normal((d_in, h), key=k[0]) * math.sqrt(2 / d_in),
        "b1": mx.zeros((h,)),
        "w2": mx.random.normal((h, h), key=k[1]) * math.sqrt(2 / h),
        "b2": mx.zeros((h,)),
        "w3": mx.random.normal((h, 1), key=k[2]) * math.sqrt(1 / h),
        "b3": mx.zeros((1,)),
    }


def logits(p, x):
    a = softplus(x @ p["w1"] + p["b1"])
    a = softplus(a @ p["w2"] + p["b2"])
    return (a @ p["w3"] + p["b3"]).squeeze(-1)


def bce(p, x, y):
    z = logits(p, x)
    return mx.mean(mx.logaddexp(0.0, z) - y * z)


loss_grad = mx.value_and_grad(bce)

# one-off check that the custom VJP agrees with the autodiff of the plain formula
xt = mx.linspace(-4, 4, 9)
g_custom = mx.grad(lambda v: softplus(v).sum())(xt)
g_auto = mx.grad(lambda v: mx.logaddexp(v, mx.zeros_like(v)).sum())(xt)
print(f"vjp audit: max|custom-auto| = {float(mx.abs(g_custom - g_auto).max()):.2e}")

LR, RHO, MOM, EPS = 3e-3, 0.9, 0.8, 1e-8
folds = np.array_split(rng.permutation(N), 4)
summary = []
for f, va_idx in enumerate(folds, start=1):
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != f - 1])
    Xtr, ytr = mx.array(X_all[tr_idx]), mx.array(y_all[tr_idx])
    Xva, yva = mx.array(X_all[va_idx]), mx.array(y_all[va_idx])
    majority = max(float(yva.mean()), 1 - float(yva.mean())) * 100

    params = init_params(100 + f)
    sq = tree_map(mx.zeros_like, params)
    mom = tree_map(mx.zeros_like, params)
    mx.eval(params, sq, mom)
    if f == 1:
        _, g = loss_grad(params, Xtr[:256], ytr[:256])
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        print(f"grad audit fold 1: {len(tree_flatten(g))} tensors, zero-grad tensors: {dead}")

    best, best_ep, best_params, patience = float("inf"), 0, params, 0
    print(f"fold {f}/4 | epoch | train bce | val bce | val acc % | majority % ")
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run = 0.0
        for b in range(0, Xtr.shape[0], 64):
            bi = perm[b:b + 64]
            loss, g = loss_grad(params, Xtr[bi], ytr[bi])
            sq = tree_map(lambda s, gg: RHO * s + (1 - RHO) * gg * gg, sq, g)
            mom = tree_map(lambda m, gg, s: MOM * m + gg / (mx.sqrt(s) + EPS), mom, g, sq)
            params = tree_map(lambda p, m: p - LR * m, params, mom)
            mx.eval(params, sq, mom, loss)
            run += float(loss) * bi.shape[0]
        vz = logits(params, Xva)
        vloss = float(mx.mean(mx.logaddexp(0.0, vz) - yva * vz))
        vacc = float(mx.mean((vz > 0) == (yva > 0.5))) * 100
        if ep % 10 == 0 or ep == 1:
            print(f"fold {f}/4 | {ep:5d} | {run / Xtr.shape[0]:9.4f} | {vloss:7.4f} | {vacc:9.2f} | {majority:10.2f}")
        if vloss < best - 1e-4:
            best, best_ep, best_params, patience = vloss, ep, params, 0
        else:
            patience += 1
            if patience >= 8:
                print(f"fold {f}/4 | stop at epoch {ep}, restoring epoch {best_ep} (val bce {best:.4f})")
                break
    params = best_params
    vz = logits(params, Xva)
    acc = float(mx.mean((vz > 0) == (yva > 0.5))) * 100
    summary.append((best, acc, majority))
    log.info("fold %d restored: val_bce=%.4f acc=%.2f%% (majority %.2f%%)", f, best, acc, majority)

b = np.array(summary)
log.info("cv mean: val_bce=%.4f acc=%.2f%% vs majority %.2f%%", b[:, 0].mean(), b[:, 1].mean(), b[:, 2].mean())
