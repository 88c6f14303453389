"""Golf greenkeeping: predict morning green speed (Stimpmeter, feet) from the
previous evening's maintenance log. 4-fold cross-validation, a compiled SGD
(Nesterov) step, early stopping on validation MAE with best-weight restore.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s greens: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("greens")

rng = np.random.default_rng(2024)
N = 2400
mow_mm = rng.uniform(2.8, 4.5, N)
rolled = rng.integers(0, 2, N).astype(float)
moisture = rng.uniform(12, 32, N)              # volumetric %
days_topdress = rng.integers(0, 21, N).astype(float)
dew_hours = rng.uniform(0, 8, N)
nitrogen = rng.uniform(0.0, 0.6, N)            # g/m2 last fortnight
stimp = (10.5 - 1.9 * (mow_mm - 3.5) + 0.7 * rolled - 0.06 * (moisture - 22)
         - 0.9 * np.exp(-days_topdress / 4.0) - 0.12 * dew_hours - 1.5 * nitrogen ** 2
         + 0.35 * rolled * (mow_mm < 3.2) + rng.normal(0, 0.3, N))
X = np.stack([mow_mm, rolled, moisture, days_topdress, dew_hours, nitrogen], 1).astype(np.float32)
y = stimp.astype(np.float32)

K, MAX_EPOCHS, PATIENCE, BS = 4, 150, 12, 48
folds = np.array_split(rng.permutation(N), K)


class GreenSpeed(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, xb, yb):
    return ((model(xb) - yb) ** 2).mean()


results = []
t_all = time.time()
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0) + 1e-6
    ymu = float(y[tr_idx].mean())
    Xtr, Xva = mx.array((X[tr_idx] - mu) / sd), mx.array((X[va_idx] - mu) / sd)
    ytr, yva = mx.array(y[tr_idx] - ymu), mx.array(y[va_idx] - ymu)

    mx.random.seed(100 + k)
    model = GreenSpeed()
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, mse)(model, xb, yb)
        opt.update(model, grads)
        return loss

    base_mae = float(mx.abs(yva).mean())    # always predict the training mean
    best_mae, best_ep, wait, best_w = float("inf"), 0, 0, None
    n_tr = len(tr_idx)
    for ep in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for i in range(0, n_tr - BS + 1, BS):
            b = perm[i:i + BS]
            loss = step(Xtr[b], ytr[b])
            mx.eval(loss, state)
            tot += loss.item()
        val_mae = float(mx.abs(model(Xva) - yva).mean())
        if val_mae < best_mae - 1e-4:
            best_mae, best_ep, wait = val_mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
        if ep % 25 == 0:
            log.info("fold %d/%d epoch %3d  train mse %.4f ft^2  val MAE %.3f ft  (best %.3f @ %d)",
                     k + 1, K, ep, tot / (n_tr // BS), val_mae, best_mae, best_ep)
        if wait >= PATIENCE:
            log.info("fold %d/%d early stop at epoch %d, restoring epoch %d", k + 1, K, ep, best_ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = model(Xva)
    mae = float(mx.abs(pred - yva).mean())
    r2 = 1.0 - float(((pred - yva) ** 2).sum() / ((yva - yva.mean()) ** 2).sum())
    diff = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
               zip(tree_flatten(model.parameters()), tree_flatten(best_w)))
    log.info("fold %d/%d restore check: max|w - w_best| = %.2e", k + 1, K, diff)
    results.append((k + 1, best_ep, ep, mae, base_mae, r2))

print()
print("fold | best ep | stopped | val MAE (ft) | mean-baseline MAE (ft) |   R^2")
print("-----+---------+---------+--------------+------------------------+-------")
for f, be, se, mae, bm, r2 in results:
    print(f"{f:>4} | {be:>7} | {se:>7} | {mae:>12.3f} | {bm:>22.3f} | {r2:6.3f}")
maes = np.array([r[3] for r in results])
print(f"mean | {'':>7} | {'':>7} | {maes.mean():>12.3f} | {np.mean([r[4] for r in results]):>22.3f} | "
      f"{np.mean([r[5] for r in results]):6.3f}")
print(f"total {time.time() - t_all:.1f}s")
