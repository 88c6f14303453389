"""Tea estate withering loft: predict leaf moisture (%) after an overnight wither.

Nested cross-validation: the outer 4 folds estimate generalisation, the inner
3 folds pick the weight decay for each outer fold. Every model is built fresh
from its own seed. The head predicts a mean and a log-variance and is trained
with a Gaussian negative log-likelihood, so the loss goes below zero once the
predicted spread is tighter than one percent moisture.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEATURES = ["loft_temp_c", "rel_humidity", "fan_hours", "leaf_load_kg_m2",
            "fresh_leaf_moisture", "trough_depth_cm"]
N = 720
OUTER_K = 4
INNER_K = 3
WD_GRID = [0.0, 1e-3, 3e-2]
STEPS = 240
WARMUP = 40
PEAK_LR = 3e-3


def make_data(seed=7):
    rng = np.random.default_rng(seed)
    temp = rng.uniform(22, 34, N)
    rh = rng.uniform(55, 95, N)
    fan = rng.uniform(8, 16, N)
    load = rng.uniform(18, 32, N)
    fresh = rng.uniform(74, 82, N)
    depth = rng.uniform(15, 25, N)
    drying = 0.9 * (temp - 22) + 0.55 * fan - 0.18 * (rh - 55) - 0.35 * (load - 18)
    target = fresh - 10.0 - drying + 0.25 * (depth - 20) + 0.004 * (rh - 55) * (load - 18)
    noise_sd = 0.4 + 0.02 * (rh - 55)
    target = target + rng.normal(0, 1, N) * noise_sd
    X = np.stack([temp, rh, fan, load, fresh, depth], axis=1).astype(np.float32)
    return X, target.astype(np.float32)


class MoistureNet(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mean = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    logvar = mx.clip(logvar, -6.0, 6.0)
    return mx.mean(0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar)))


def standardise(train_x, train_y, *others):
    xm, xs = train_x.mean(0), train_x.std(0) + 1e-6
    ym, ys = float(train_y.mean()), float(train_y.std())
    out = [((train_x - xm) / xs, (train_y - ym) / ys)]
    for ox, oy in others:
        out.append(((ox - xm) / xs, (oy - ym) / ys))
    return out, ym, ys


def fit(train_x, train_y, wd, seed):
    mx.random.seed(seed)
    model = MoistureNet(train_x.shape[1])
    mx.eval(model.parameters())
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, end=PEAK_LR * 0.05)],
        [WARMUP])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=wd)
    step_fn = nn.value_and_grad(model, gaussian_nll)
    xb, yb = mx.array(train_x), mx.array(train_y)
    rng = np.random.default_rng(seed)
    n = train_x.shape[0]
    history = []
    for step in range(STEPS):
        idx = mx.array(rng.choice(n, size=min(96, n), replace=False))
        loss, grads = step_fn(model, xb[idx], yb[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        history.append(loss.item())
    return model, history


def evaluate(model, x, y, ys):
    mu, logvar = model(mx.array(x))
    nll = gaussian_nll(model, mx.array(x), mx.array(y)).item()
    rmse = float(np.sqrt(np.mean((np.array(mu) - y) ** 2))) * ys
    return nll, rmse


def folds(n, k, rng):
    perm = rng.permutation(n)
    return np.array_split(perm, k)


def main():
    t0 = time.time()
    X, y = make_data()
    rng = np.random.default_rng(11)
    outer = folds(N, OUTER_K, rng)
    print(f"withering loft: {N} batches, {len(FEATURES)} features, "
          f"outer={OUTER_K} inner={INNER_K} wd grid={WD_GRID}")
    results = []
    for o, test_idx in enumerate(outer):
        train_idx = np.concatenate([outer[j] for j in range(OUTER_K) if j != o])
        Xtr, ytr = X[train_idx], y[train_idx]
        Xte, yte = X[test_idx], y[test_idx]
        inner = folds(len(train_idx), INNER_K, np.random.default_rng(100 + o))
        inner_scores = {}
        for wd in WD_GRID:
            scores = []
            for i, val_idx in enumerate(inner):
                fit_idx = np.concatenate([inner[j] for j in range(INNER_K) if j != i])
                (xa, ya), (xv, yv) = standardise(Xtr[fit_idx], ytr[fit_idx],
                                                 (Xtr[val_idx], ytr[val_idx]))[0]
                model, _ = fit(xa, ya, wd, seed=1000 * o + 10 * i + WD_GRID.index(wd))
                nll, _ = evaluate(model, xv, yv, 1.0)
                scores.append(nll)
            inner_scores[wd] = float(np.mean(scores))
        best_wd = min(inner_scores, key=inner_scores.get)
        pretty = ", ".join(f"wd={k:g}:{v:+.3f}" for k, v in inner_scores.items())
        print(f"outer fold {o}: inner NLL {pretty} -> chosen wd={best_wd:g}")

        (xa, ya), (xt, yt) = standardise(Xtr, ytr, (Xte, yte))[0]
        _, ym, ys = standardise(Xtr, ytr)
        model, hist = fit(xa, ya, best_wd, seed=7000 + o)
        for s in (0, WARMUP, STEPS // 2, STEPS - 1):
            print(f"  refit step {s:3d} lr={float(schedule_at(s)):.5f} nll={hist[s]:+.4f}")
        nll, rmse = evaluate(model, xt, yt, ys)
        base_rmse = float(np.sqrt(np.mean((yte - ytr.mean()) ** 2)))
        print(f"  test fold {o}: nll={nll:+.4f}  rmse={rmse:.3f} %  "
              f"(mean-of-train baseline rmse={base_rmse:.3f} %)")
        results.append((nll, rmse, base_rmse))

    r = np.array(results)
    print(f"nested CV summary: nll={r[:,0].mean():+.4f}±{r[:,0].std():.4f}  "
          f"rmse={r[:,1].mean():.3f}±{r[:,1].std():.3f} %  "
          f"baseline rmse={r[:,2].mean():.3f} %  skill={1 - r[:,1].mean() / r[:,2].mean():.3f}")
    print(f"done in {time.time() - t0:.1f}s")


def schedule_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    t = (step - WARMUP) / (STEPS - WARMUP)
    end = PEAK_LR * 0.05
    return end + 0.5 * (PEAK_LR - end) * (1 + math.cos(math.pi * t))


if __name__ == "__main__":
    main()
