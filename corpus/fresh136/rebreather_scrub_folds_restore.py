# Rebreather CO2-scrubber endurance: how many minutes until breakthrough?
# Synthetic dive-log data, 3-fold cross-validation, Adamax with a warmup that
# starts at exactly lr=0, early stopping that restores the best weights.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(136)
N = 1500
water_c = rng.uniform(4, 28, N)
depth_m = rng.uniform(10, 80, N)
work = rng.uniform(1.0, 3.0, N)
sorb_age_d = rng.uniform(0, 30, N)
mass_kg = rng.uniform(55, 110, N)
fill_g = rng.uniform(2000, 2800, N)
minutes = (180.0 * (fill_g / 2400.0) * (1 + 0.02 * (water_c - 15.0)) / work ** 0.8
           * np.exp(-0.015 * sorb_age_d) * (1 - 0.002 * (depth_m - 30.0))
           * np.sqrt(75.0 / mass_kg)) + rng.normal(0, 6.0, N)
X_all = np.stack([water_c, depth_m, work, sorb_age_d, mass_kg, fill_g], 1).astype(np.float32)
y_all = minutes.astype(np.float32)

K = 3
perm = rng.permutation(N)
folds = np.array_split(perm, K)


def make_model():
    return nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb).squeeze(-1), yb)


BATCH, MAX_EPOCHS, PATIENCE, WARM = 64, 60, 8, 40
print("| fold | ep | lr       | train_mse | val_rmse min | mean-baseline min |")
print("|------|----|----------|-----------|--------------|-------------------|")
summary = []
for k in range(K):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0)
    ymu, ysd = y_all[tr_idx].mean(), y_all[tr_idx].std()
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array((y_all[tr_idx] - ymu) / ysd)
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva_min = mx.array(y_all[va_idx])
    base_rmse = float(np.sqrt(np.mean((y_all[va_idx] - ymu) ** 2)))

    mx.random.seed(1000 + k)
    model = make_model()
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, 1200, 1e-4)], [WARM])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g0 = step_fn(model, Xtr[:BATCH], ytr[:BATCH])
        flat = tree_flatten(g0)
        nz = sum(1 for _, g in flat if float(mx.abs(g).sum()) > 0)
        print(f"grad audit: {nz}/{len(flat)} parameter tensors get a nonzero gradient")

    best, best_params, bad = float("inf"), None, 0
    ntr = Xtr.shape[0]
    for ep in range(1, MAX_EPOCHS + 1):
        order = mx.array(np.random.default_rng(k * 100 + ep).permutation(ntr))
        tot, nb = 0.0, 0
        for i in range(0, ntr - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        pred_min = model(Xva).squeeze(-1) * ysd + ymu
        val_rmse = math.sqrt(mx.mean((pred_min - yva_min) ** 2).item())
        if val_rmse < best - 1e-3:
            best, bad = val_rmse, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
        if ep == 1 or ep % 5 == 0 or bad >= PATIENCE:
            lr_now = opt.learning_rate.item()
            print(f"| {k + 1}    | {ep:2d} | {lr_now:.2e} | {tot / nb:9.4f} | {val_rmse:12.2f} | {base_rmse:17.2f} |")
        if bad >= PATIENCE:
            print(f"  fold {k + 1}: no val gain for {PATIENCE} epochs, stopping at epoch {ep}")
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred_min = model(Xva).squeeze(-1) * ysd + ymu
    restored = math.sqrt(mx.mean((pred_min - yva_min) ** 2).item())
    print(f"  fold {k + 1}: restored best weights, val RMSE {restored:.2f} min (baseline {base_rmse:.2f} min)")
    summary.append((restored, base_rmse))

cv = np.mean([s[0] for s in summary]); cb = np.mean([s[1] for s in summary])
print(f"3-fold CV RMSE {cv:.2f} min vs mean-baseline {cb:.2f} min ({100 * (1 - cv / cb):.1f}% lower)")
