"""Eaves-icicle growth: regress hourly length gain (mm/h) of gutter icicles
from roof and weather readings, with 4-fold cross-validation.

The network uses a 'softclip' activation with a hand-written VJP
(mx.custom_function), the train step is compiled as a pure function of
(params, velocity, batch), the update is hand-written Nesterov momentum, and
every fold stops early on its validation RMSE and restores its best weights.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s icicle: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("icicle")

rng = np.random.default_rng(141)
N = 2400
air = rng.uniform(-18.0, 2.0, N)            # deg C
roof = air + rng.uniform(0.0, 9.0, N)       # roof surface, heat loss from the attic
sun = rng.uniform(0.0, 1.0, N)              # fraction of the hour in sun
wind = rng.gamma(2.0, 1.6, N)               # m/s
rh = rng.uniform(45.0, 98.0, N)             # %
length = rng.uniform(5.0, 60.0, N)          # current icicle length cm
# meltwater supply only when the roof is above 0 C (attic heat, sun)
melt = np.clip(roof + 6.0 * sun, 0.0, None)
# freezing on the icicle needs cold air; wind helps, very humid air hinders
freeze = np.clip(-air, 0.0, 14.0) * (1.0 + 0.12 * wind) * (1.2 - 0.4 * (rh - 45.0) / 53.0)
gain = 2.4 * np.tanh(melt / 5.0) * np.tanh(freeze / 4.0) * (1.0 + 0.004 * length)
gain = gain - 0.35 * np.clip(air, 0.0, None) * (1 + sun)   # warm air melts the tip
gain = gain + rng.normal(0.0, 0.18, N)
X = np.stack([air / 10, roof / 10, sun, wind / 4, (rh - 70) / 15, length / 30], 1).astype(np.float32)
Y = gain.astype(np.float32)


@mx.custom_function
def softclip(x):
    return 3.0 * mx.tanh(x / 3.0)


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals
    t = mx.tanh(x / 3.0)
    return cotangent * (1.0 - t * t)


def init_params(key_seed):
    g = np.random.default_rng(key_seed)

    def dense(i, o):
        return {"w": mx.array(g.normal(0, 1 / math.sqrt(i), (i, o)).astype(np.float32)),
                "b": mx.zeros((o,))}
    return {"l1": dense(6, 48), "l2": dense(48, 48), "out": dense(48, 1)}


def forward(p, x):
    h = softclip(x @ p["l1"]["w"] + p["l1"]["b"])
    h = softclip(h @ p["l2"]["w"] + p["l2"]["b"])
    return (h @ p["out"]["w"] + p["out"]["b"]).squeeze(-1)


def huber(p, x, y):
    r = forward(p, x) - y
    a = mx.abs(r)
    return mx.mean(mx.where(a < 0.5, 0.5 * r * r, 0.5 * (a - 0.25)))


grad_fn = mx.value_and_grad(huber)


@mx.compile
def train_step(p, v, x, y, lr):
    loss, g = grad_fn(p, x, y)
    v = tree_map(lambda vi, gi: 0.9 * vi + gi, v, g)
    p = tree_map(lambda pi, vi, gi: pi - lr * (gi + 0.9 * vi), p, v, g)
    return loss, p, v


def metrics(p, x, y):
    pred = forward(p, x)
    rmse = mx.sqrt(mx.mean((pred - y) ** 2)).item()
    ss_res = mx.sum((pred - y) ** 2).item()
    ss_tot = mx.sum((y - mx.mean(y)) ** 2).item()
    return rmse, 1.0 - ss_res / ss_tot


folds = np.array_split(rng.permutation(N), 4)
t0 = time.time()
results = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, Ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    Xva, Yva = mx.array(X[va_idx]), mx.array(Y[va_idx])
    base_rmse = float(np.sqrt(np.mean((Y[va_idx] - Y[tr_idx].mean()) ** 2)))
    p = init_params(1000 + k)
    v = tree_map(mx.zeros_like, p)
    if k == 0:
        _, g0 = grad_fn(p, Xtr[:256], Ytr[:256])
        norms = [(name, float(mx.sqrt(mx.sum(a * a)).item())) for name, a in tree_flatten(g0)]
        log.info("grad check: %d tensors, smallest |g| %.2e (%s)", len(norms),
                 min(n for _, n in norms), min(norms, key=lambda t: t[1])[0])
    best, best_p, bad, epoch = float("inf"), p, 0, 0
    n_tr = Xtr.shape[0]
    for epoch in range(1, 121):
        order = mx.array(rng.permutation(n_tr))
        lr = mx.array(0.02 if epoch <= 60 else 0.006)
        tot = 0.0
        for s in range(0, n_tr, 96):
            bi = order[s:s + 96]
            loss, p, v = train_step(p, v, Xtr[bi], Ytr[bi], lr)
            mx.eval(loss, p, v)
            tot += loss.item() * bi.shape[0]
        rmse, r2 = metrics(p, Xva, Yva)
        if rmse < best - 1e-4:
            best, best_p, bad = rmse, p, 0
        else:
            bad += 1
        if epoch % 10 == 0:
            log.info("fold %d/4 epoch %3d huber %.4f | val rmse %.3f mm/h r2 %.3f | mean-guess rmse %.3f",
                     k + 1, epoch, tot / n_tr, rmse, r2, base_rmse)
        if bad >= 12:
            log.info("fold %d/4 early stop at epoch %d (no gain for 12 epochs)", k + 1, epoch)
            break
    p = best_p
    rmse, r2 = metrics(p, Xva, Yva)
    log.info("fold %d/4 restored best: rmse %.3f r2 %.3f (stopped epoch %d)", k + 1, rmse, r2, epoch)
    results.append((rmse, r2, base_rmse))

r = np.array(results)
print("\nfold   rmse   r2     baseline")
for i, (a, b, c) in enumerate(r):
    print(f"{i + 1:>4}  {a:.3f}  {b:.3f}  {c:.3f}")
print(f"mean  {r[:, 0].mean():.3f}  {r[:, 1].mean():.3f}  {r[:, 2].mean():.3f}   ({time.time() - t0:.1f}s)")
