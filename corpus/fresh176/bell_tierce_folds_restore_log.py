"""Bell foundry: predict how far a cast bell's tierce partial lands from the
minor-third target (in cents) from its profile measurements, before tuning.

4-fold cross validation; each fold trains a fresh MLP with Nesterov SGD in a
compiled step, early-stops on the held-out fold and restores the best weights.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s foundry: %(message)s",
                    datefmt="%H:%M:%S", level=logging.INFO)
log = logging.getLogger("foundry")

rng = np.random.default_rng(2024)
N = 2400
diam = rng.uniform(0.4, 1.6, N)            # m
waist = rng.uniform(0.06, 0.11, N)         # waist thickness / diameter
lip = rng.uniform(0.11, 0.16, N)           # soundbow thickness / diameter
shoulder = rng.uniform(0.8, 1.2, N)        # shoulder radius ratio
tin = rng.uniform(20.0, 24.0, N)           # % tin in bronze
pour = rng.uniform(1080, 1180, N)          # pour temperature C
X_np = np.stack([diam, waist, lip, shoulder, tin, pour], 1).astype(np.float32)
y_np = (180 * (waist - 0.085) / 0.025 - 95 * (lip - 0.135) / 0.025
        + 60 * np.sin(3.0 * (shoulder - 1.0)) * (lip / 0.135)
        + 8.0 * (tin - 22.0) - 0.05 * (pour - 1130) + 25 * (diam - 1.0) ** 2
        + rng.normal(0, 6.0, N)).astype(np.float32)   # cents
X_np = (X_np - X_np.mean(0)) / X_np.std(0)
Y_SCALE = float(y_np.std())
folds = np.array_split(rng.permutation(N), 4)


class Profile(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


table = []
t_start = time.perf_counter()
for k, test_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    Xtr, ytr = mx.array(X_np[tr_idx]), mx.array(y_np[tr_idx] / Y_SCALE)
    Xte, yte = mx.array(X_np[test_idx]), mx.array(y_np[test_idx])

    mx.random.seed(100 + k)
    model = Profile()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())

    def loss_fn(xb, yb):
        return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")

    state = [model.state, opt.state]

    def step(xb, yb):
        loss, g = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, g)
        return loss

    step = mx.compile(step, inputs=state, outputs=state)

    if k == 0:
        g0 = nn.value_and_grad(model, loss_fn)(Xtr[:256], ytr[:256])[1]
        zero = [n for n, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
        log.info("grad check: %d tensors, %d with all-zero grad", len(tree_flatten(g0)), len(zero))

    best, best_ep, bad, best_w = float("inf"), -1, 0, None
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        run = 0.0
        nb = 0
        for i in range(0, Xtr.shape[0], 64):
            b = perm[i:i + 64]
            loss = step(Xtr[b], ytr[b])
            mx.eval(state, loss)
            run += loss.item(); nb += 1
        pred = model(Xte) * Y_SCALE
        rmse = float(mx.sqrt(mx.mean((pred - yte) ** 2)))
        if epoch % 5 == 0 or epoch == 1:
            log.info("fold %d/4 epoch %02d huber %.4f held-out rmse %.2f cents", k + 1, epoch, run / nb, rmse)
        if rmse < best - 0.05:
            best, best_ep, bad = rmse, epoch, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 8:
                log.info("fold %d/4 stop at epoch %d (no gain for 8), restoring epoch %d", k + 1, epoch, best_ep)
                break
    model.update(best_w)
    pred = model(Xte) * Y_SCALE
    rmse = float(mx.sqrt(mx.mean((pred - yte) ** 2)))
    r2 = 1.0 - float(mx.mean((pred - yte) ** 2) / mx.var(yte))
    base = float(mx.sqrt(mx.mean((yte - float(ytr.mean()) * Y_SCALE) ** 2)))
    table.append((k + 1, best_ep, rmse, base, r2))

log.info("cross-validation done in %.1f s", time.perf_counter() - t_start)
print("fold | best ep | rmse cents | mean-guess rmse | R2")
for f, e, r, b, r2 in table:
    print(f"{f:>4} | {e:>7} | {r:>10.2f} | {b:>15.2f} | {r2:.3f}")
arr = np.array([[r, b, r2] for _, _, r, b, r2 in table])
print(f"mean | {'':>7} | {arr[:, 0].mean():>10.2f} | {arr[:, 1].mean():>15.2f} | {arr[:, 2].mean():.3f}")
print("noise floor 6.00 cents")
