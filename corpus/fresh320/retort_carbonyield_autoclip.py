"""Charcoal retort: char carbon yield (% of dry wood mass) from six burn-log readings.

Percentile-threshold clipping (AutoClip style): the clip level is the 10th
percentile of every finite gradient norm seen so far, so most steps get
scaled down.  A few log rows have a dropped thermocouple (NaN); any batch
whose loss or gradient norm is not finite is left out of the update and
counted.  Output is TOML, one [[epoch]] table per epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(17)
mx.random.seed(17)


def make_logs(n):
    moisture = rng.uniform(8, 30, n)          # % wet basis
    peak_temp = rng.uniform(350, 650, n)      # C
    hold_h = rng.uniform(1, 8, n)             # hours at peak
    billet_cm = rng.uniform(3, 15, n)         # billet diameter
    density = rng.uniform(0.45, 0.85, n)      # g/cm3
    air_leak = rng.uniform(0, 1, n)           # leak index
    yield_fc = (
        14.0
        + 0.018 * (peak_temp - 350)
        - 0.004 * (peak_temp - 500) ** 2 / 50
        + 2.2 * np.log1p(hold_h)
        - 0.16 * moisture
        + 6.0 * (density - 0.65)
        - 4.5 * air_leak ** 2
        - 0.12 * np.abs(billet_cm - 8)
        + rng.normal(0, 0.6, n)
    )
    X = np.stack([moisture, peak_temp, hold_h, billet_cm, density, air_leak], 1)
    return X.astype(np.float32), yield_fc.astype(np.float32)


Xtr, ytr = make_logs(8000)
Xva, yva = make_logs(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
ztr = (ytr - ymu) / ysd
# dropped thermocouple readings in a handful of training rows
bad_rows = rng.choice(len(Xtr), size=5, replace=False)
Xtr[bad_rows, 1] = np.nan

Xtr_m, ztr_m = mx.array(Xtr), mx.array(ztr)
Xva_m = mx.array(Xva)

model = nn.Sequential(
    nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1)
)
mx.eval(model.parameters())

BATCH, EPOCHS = 64, 12
steps_per_epoch = len(Xtr) // BATCH
total = EPOCHS * steps_per_epoch
warm = 200
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
    [warm],
)
opt = optim.Adam(learning_rate=lr_sched)


def loss_fn(m, x, z):
    return nn.losses.mse_loss(m(x).squeeze(-1), z)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def global_norm(tree):
    return mx.sqrt(sum(mx.sum(g.astype(mx.float32) ** 2) for _, g in tree_flatten(tree)))


def val_rmse():
    pred = model(Xva_m).squeeze(-1) * ysd + ymu
    return math.sqrt(float(mx.mean((pred - mx.array(yva)) ** 2).item()))


def fmt(v):
    return f'"{v}"' if isinstance(v, str) else (f"{v:.6g}" if isinstance(v, float) else str(v))


print("[run]")
print('site = "retort-3"')
print(f"train_rows = {len(Xtr)}")
print(f"valid_rows = {len(Xva)}")
print(f"rows_with_dropped_thermocouple = {len(bad_rows)}")
print(f"predict_mean_rmse_pct = {float(np.sqrt(np.mean((yva - ymu) ** 2))):.4f}")
print(f"untrained_rmse_pct = {val_rmse():.4f}")

# one clean batch: every leaf must get a gradient
clean = np.setdiff1d(np.arange(len(Xtr)), bad_rows)[:BATCH]
_, g0 = loss_and_grad(model, Xtr_m[mx.array(clean)], ztr_m[mx.array(clean)])
leaves = tree_flatten(g0)
nonzero = sum(1 for _, g in leaves if float(mx.abs(g).max().item()) > 0)
print()
print("[check]")
print(f"grad_leaves = {len(leaves)}")
print(f"grad_leaves_nonzero = {nonzero}")

history = []
step = 0
t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run_loss, used, clipped, skipped = 0.0, 0, 0, 0
    last_skip_loss = "none"
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        loss, grads = loss_and_grad(model, Xtr_m[idx], ztr_m[idx])
        gnorm = global_norm(grads)
        mx.eval(loss, gnorm)
        lval, nval = float(loss.item()), float(gnorm.item())
        if not (math.isfinite(lval) and math.isfinite(nval)):
            skipped += 1
            last_skip_loss = str(lval)
            continue
        history.append(nval)
        thresh = float(np.percentile(history, 10))
        grads, _ = optim.clip_grad_norm(grads, max_norm=thresh)
        if nval > thresh:
            clipped += 1
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run_loss += lval
        used += 1
        step += 1
    print()
    print("[[epoch]]")
    for k, v in [
        ("n", ep),
        ("lr", float(opt.learning_rate.item())),
        ("train_mse_std", run_loss / max(used, 1)),
        ("valid_rmse_pct", val_rmse()),
        ("clip_threshold", float(np.percentile(history, 10))),
        ("median_grad_norm", float(np.median(history[-used:]))),
        ("clipped_share_pct", 100.0 * clipped / max(used, 1)),
        ("updates", used),
        ("skipped_batches", skipped),
        ("last_skipped_loss", last_skip_loss),
        ("secs", round(time.perf_counter() - t0, 2)),
    ]:
        print(f"{k} = {fmt(v)}")

finite = all(bool(mx.all(mx.isfinite(p)).item()) for _, p in tree_flatten(model.parameters()))
print()
print("[done]")
print(f"optimizer_steps = {step}")
print(f"parameters_finite = {str(finite).lower()}")
print(f"final_valid_rmse_pct = {val_rmse():.4f}")
