"""Skeleton (ice-track sled) finish times from start-house telemetry.

4-fold cross-validation; every fold trains a fresh GELU MLP with RMSprop whose
learning rate warms up from exactly 0, keeps the best validation snapshot
(patience-based early stop) and restores it before the fold report.
Everything is logged as JSON lines.
"""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

FEATURES = ["push_s", "athlete_kg", "sled_kg", "runner_temp_c", "ice_temp_c",
            "c5_exit_kmh", "wind_ms"]


def make_runs(n, seed=11):
    rng = np.random.default_rng(seed)
    push = rng.normal(4.85, 0.12, n)
    athlete = rng.normal(78, 9, n)
    sled = rng.uniform(29, 43, n)
    runner_t = rng.normal(-2.0, 3.0, n)
    ice_t = rng.normal(-7.5, 2.0, n)
    c5 = rng.normal(112, 3.5, n)
    wind = rng.normal(0, 1.5, n)
    total_mass = np.minimum(athlete + sled, 115)
    finish = (52.4 + 2.6 * (push - 4.85) - 0.018 * (total_mass - 110)
              + 0.004 * (runner_t + 2.0) ** 2 + 0.05 * np.abs(ice_t + 7.0)
              - 0.06 * (c5 - 112) + 0.003 * (c5 - 112) ** 2 + 0.07 * wind
              + rng.normal(0, 0.06, n))
    X = np.stack([push, athlete, sled, runner_t, ice_t, c5, wind], 1).astype(np.float32)
    return X, finish.astype(np.float32)


class SledNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def run_fold(k, Xtr, ytr, Xva, yva, log):
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    xtr = mx.array((Xtr - mu) / sd)
    xva = mx.array((Xva - mu) / sd)
    ttr = mx.array((ytr - ymu) / ysd)
    yva_np = yva

    model = SledNet(xtr.shape[1])
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 2e-3, 60)
    opt = optim.RMSprop(learning_rate=optim.join_schedules(
        [warm, optim.exponential_decay(2e-3, 0.997)], [60]))
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, huber)(model, xb, yb)
        opt.update(model, grads)
        return loss

    def val_mae_cs():
        pred = np.array(model(xva)) * ysd + ymu
        return float(np.mean(np.abs(pred - yva_np)) * 100.0)  # hundredths of a second

    baseline_cs = float(np.mean(np.abs(ymu - yva_np)) * 100.0)
    best, best_params, since, it = float("inf"), None, 0, 0
    rng = np.random.default_rng(100 + k)
    n = xtr.shape[0]
    for epoch in range(1, 81):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for s in range(0, n, 64):
            idx = perm[s:s + 64]
            loss = step(xtr[idx], ttr[idx])
            mx.eval(loss, state)
            tot += loss.item() * idx.shape[0]
            it += 1
        mae = val_mae_cs()
        improved = mae < best - 0.05
        if improved:
            best, since = mae, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            since += 1
        if epoch % 5 == 0 or epoch == 1:
            log({"fold": k, "epoch": epoch, "iter": it,
                 "lr": round(opt.learning_rate.item(), 7),
                 "train_huber": round(tot / n, 5), "val_mae_cs": round(mae, 2),
                 "mean_guess_cs": round(baseline_cs, 2), "best_cs": round(best, 2)})
        if since >= 12:
            log({"fold": k, "event": "early_stop", "epoch": epoch, "best_cs": round(best, 2)})
            break
    model.update(best_params)
    restored = val_mae_cs()
    log({"fold": k, "event": "restored", "val_mae_cs": round(restored, 2),
         "gain_vs_mean_pct": round(100.0 * (1 - restored / baseline_cs), 1)})
    return restored, baseline_cs


def main():
    mx.random.seed(5)
    X, y = make_runs(2000)
    folds = np.array_split(np.random.default_rng(2).permutation(len(y)), 4)
    t0 = time.time()
    log = lambda rec: print(json.dumps(rec), flush=True)
    log({"event": "start", "runs": len(y), "features": FEATURES, "folds": 4})
    results = []
    for k, va in enumerate(folds):
        tr = np.concatenate([f for j, f in enumerate(folds) if j != k])
        results.append(run_fold(k, X[tr], y[tr], X[va], y[va], log))
    maes = [r[0] for r in results]
    log({"event": "cv_summary", "val_mae_cs_mean": round(float(np.mean(maes)), 2),
         "val_mae_cs_sd": round(float(np.std(maes)), 2),
         "mean_guess_cs": round(float(np.mean([r[1] for r in results])), 2),
         "noise_floor_cs": round(0.06 * 0.7979 * 100, 2),
         "wall_s": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
