"""Fire-service drill ground: how far does the stream reach?

Regress horizontal stream reach (metres) of a handline from pump pressure, hose length,
hose diameter, nozzle type, elevation angle and headwind.  Made-up hydraulics: friction
loss grows with length * flow^2 / d^5, nozzle exit speed from remaining pressure, a
drag-shortened ballistic range, fog nozzles break up early.  4-fold cross-validation;
each fold restarts its epoch counter, warms the learning rate up from exactly 0, stops
early on the held-out fold and restores the best weights before scoring.
"""
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s drill: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("drill")

rng = np.random.default_rng(404)
N = 2400
pressure = rng.uniform(4.0, 12.0, N)      # bar at pump
length = rng.uniform(20.0, 120.0, N)      # m of hose
diam = rng.choice([38.0, 45.0, 52.0], N)  # mm
fog = rng.integers(0, 2, N)               # 0 smooth bore, 1 fog
angle = rng.uniform(10.0, 45.0, N)        # degrees
wind = rng.normal(0.0, 3.0, N)            # m/s headwind (+) / tailwind (-)

loss_bar = 0.9 * (length / 100.0) * (45.0 / diam) ** 5 * (pressure / 8.0)
p_noz = np.clip(pressure - loss_bar, 0.5, None)
v = np.sqrt(2.0 * p_noz * 1e5 / 1000.0) * (0.8 - 0.25 * fog)
rad = np.deg2rad(angle)
reach = (v ** 2 * np.sin(2 * rad) / 9.81) * 0.55 / (1.0 + 0.02 * v) - 0.6 * wind
reach = np.clip(reach + rng.normal(0.0, 0.8, N), 1.0, None)

X = np.stack([pressure, length, diam, fog, np.sin(2 * rad), np.cos(2 * rad), wind], axis=1).astype(np.float32)
y = reach.astype(np.float32)
folds = np.array_split(rng.permutation(N), 4)


def rule_of_thumb(Xtr, ytr, Xte):
    # the drill sergeant's rule: reach ~ a + b * pressure (least squares)
    A = np.stack([np.ones(len(Xtr)), Xtr[:, 0]], 1)
    coef = np.linalg.lstsq(A, ytr, rcond=None)[0]
    return coef[0] + coef[1] * Xte[:, 0]


class ReachNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def mse(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


report = []
for k in range(4):
    te = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    # inner split of the training folds for early stopping
    stop_idx, fit_idx = tr[:240], tr[240:]
    m, s = X[fit_idx].mean(0), X[fit_idx].std(0) + 1e-6
    ym, ys = y[fit_idx].mean(), y[fit_idx].std()
    Xf, yf = mx.array((X[fit_idx] - m) / s), mx.array((y[fit_idx] - ym) / ys)
    Xs, ys_ = mx.array((X[stop_idx] - m) / s), y[stop_idx]
    Xt, yt = mx.array((X[te] - m) / s), y[te]

    mx.random.seed(100 + k)
    model = ReachNet()
    steps_per_epoch = math.ceil(len(fit_idx) / 64)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 3 * steps_per_epoch), optim.cosine_decay(4e-3, 60 * steps_per_epoch, 2e-4)],
        [3 * steps_per_epoch],
    )
    opt = optim.Adamax(learning_rate=sched)
    step = nn.value_and_grad(model, mse)

    best, best_w, bad, patience = float("inf"), None, 0, 8
    log.info("fold %d/4 start: fit=%d stop=%d test=%d lr0=%.1e", k + 1, len(fit_idx), len(stop_idx), len(te), sched(mx.array(0)).item())
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(len(fit_idx)))
        run = 0.0
        for i in range(0, len(fit_idx), 64):
            idx = perm[i:i + 64]
            l, g = step(model, Xf[idx], yf[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            run += l.item()
        pred = np.array(model(Xs)) * ys + ym
        stop_rmse = float(np.sqrt(np.mean((pred - ys_) ** 2)))
        if stop_rmse < best - 1e-3:
            best, bad = stop_rmse, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
            mark = "*"
        else:
            bad += 1
            mark = ""
        if epoch % 5 == 0 or mark == "*" and epoch <= 3:
            log.info("fold %d epoch %02d  fit_mse(z) %.4f  stop_rmse %.3f m %s lr %.2e", k + 1, epoch, run / steps_per_epoch,
                     stop_rmse, mark, opt.learning_rate.item())
        if bad >= patience:
            log.info("fold %d early stop at epoch %d (best stop_rmse %.3f m)", k + 1, epoch, best)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    pred = np.array(model(Xt)) * ys + ym
    rmse = float(np.sqrt(np.mean((pred - yt) ** 2)))
    r2 = 100.0 * (1.0 - np.sum((pred - yt) ** 2) / np.sum((yt - yt.mean()) ** 2))
    base = rule_of_thumb(X[fit_idx], y[fit_idx], X[te])
    base_rmse = float(np.sqrt(np.mean((base - yt) ** 2)))
    log.info("fold %d restored best: test rmse %.3f m | R2 %.1f%% | rule-of-thumb rmse %.3f m", k + 1, rmse, r2, base_rmse)
    report.append((k + 1, rmse, r2, base_rmse, epoch))

print("\nfold | test_rmse_m | R2_%  | thumb_rmse_m | epochs_run")
for f, r, q, b, e in report:
    print(f"{f:4d} | {r:11.3f} | {q:5.1f} | {b:12.3f} | {e:10d}")
arr = np.array([[r, q, b] for _, r, q, b, _ in report])
print(f"mean | {arr[:, 0].mean():11.3f} | {arr[:, 1].mean():5.1f} | {arr[:, 2].mean():12.3f} |")
