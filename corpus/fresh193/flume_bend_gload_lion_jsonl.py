"""Water-park slide audit: regress peak rider g-load on a flume element (helix/hump/bowl)
from synthetic design features, 3-fold CV, Lion with warmup from lr=0, JSON lines."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
N = 900
# features: entry speed (m/s), radius of curvature (m), drop height (m), bank angle (deg),
#           rider+raft mass (x100 kg), water-film friction coeff, element type one-hot (helix/hump/bowl)
speed = rng.uniform(12, 38, N)
radius = rng.uniform(8, 45, N)
drop = rng.uniform(5, 60, N)
bank = rng.uniform(0, 70, N)
mass = rng.uniform(6, 14, N)
fric = rng.uniform(0.01, 0.05, N)
etype = rng.integers(0, 3, N)
v_eff = np.sqrt(np.maximum(speed ** 2 + 2 * 9.81 * drop * (1 - 4 * fric), 1.0))
centrip = v_eff ** 2 / (radius * 9.81)
sign = np.where(etype == 1, -1.0, 1.0)           # humps lift riders off the raft
g_peak = 1.0 + sign * centrip * np.cos(np.radians(bank) * 0.5) * np.where(etype == 2, 0.8, 1.0)
g_peak = np.clip(g_peak, -2.5, 7.0) + rng.normal(0, 0.08, N)
X = np.stack([speed / 38, radius / 45, drop / 60, bank / 70, mass / 14, fric * 20,
              etype == 0, etype == 1, etype == 2], 1).astype(np.float32)
y = g_peak.astype(np.float32)

def make_model():
    return nn.Sequential(nn.Linear(9, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb).squeeze(-1), yb, delta=0.5, reduction="mean")

folds = np.array_split(rng.permutation(N), 3)
EPOCHS, BS = 30, 64
summary = []
for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
    steps_per_epoch = math.ceil(len(tr) / BS)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, 40), optim.cosine_decay(1e-3, EPOCHS * steps_per_epoch - 40, 1e-5)], [40])
    model = make_model()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    base_mae = float(np.mean(np.abs(y[va] - y[tr].mean())))
    for ep in range(EPOCHS):
        perm = mx.array(np.random.default_rng(100 * k + ep).permutation(len(tr)))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.size
        if ep % 3 == 2 or ep == 0:
            pred = model(Xva).squeeze(-1)
            mae = mx.mean(mx.abs(pred - yva)).item()
            r2 = 1 - mx.sum((pred - yva) ** 2).item() / mx.sum((yva - yva.mean()) ** 2).item()
            print(json.dumps({"fold": k, "epoch": ep, "lr": round(float(opt.learning_rate.item()), 7),
                              "huber": round(tot / len(tr), 5), "val_mae_g": round(mae, 4),
                              "baseline_mae_g": round(base_mae, 4), "r2": round(r2, 4)}))
    summary.append((k, mae, base_mae, r2))

print("fold | MAE (g) | mean-predictor MAE (g) | R^2")
for k, mae, b, r2 in summary:
    print(f"{k:4d} | {mae:7.3f} | {b:22.3f} | {r2:.3f}")
print(f"mean | {np.mean([s[1] for s in summary]):7.3f} | {np.mean([s[2] for s in summary]):22.3f} | {np.mean([s[3] for s in summary]):.3f}")
