# Shiitake log cultivation: predict the first-flush yield (grams per oak log) from
# synthetic inoculation-yard records. 3-fold CV, each fold: LR warmup from exactly 0,
# Adamax, early stopping on validation MAE with restore of the best weights.
# Emits JSON lines; a summary table at the end.
import json
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)
N = 900
diam = rng.uniform(8, 20, N)           # log diameter cm
spawn = rng.integers(20, 60, N)        # plugs per log
moist = rng.uniform(25, 55, N)         # wood moisture %
shade = rng.uniform(0.3, 0.95, N)      # canopy cover
months = rng.uniform(6, 18, N)         # months since inoculation
soak_h = rng.uniform(0, 36, N)         # force-fruiting soak hours
oak = rng.integers(0, 2, N)            # 1 = white oak, 0 = red oak
yield_g = (14 * diam + 3.5 * spawn - 0.25 * (moist - 40) ** 2 + 120 * shade
           + 40 * np.tanh((months - 9) / 3) + 60 * (1 - np.exp(-soak_h / 12)) + 35 * oak
           - 120 + rng.normal(0, 25, N))
yield_g = np.clip(yield_g, 0, None)
X = np.stack([diam, spawn, moist, shade, months, soak_h, oak], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = yield_g.astype(np.float32)
Y_MU, Y_SD = float(y.mean()), float(y.std())
print(json.dumps({"event": "data", "logs": N, "mean_yield_g": round(Y_MU, 1), "sd_g": round(Y_SD, 1)}))


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), (yb - Y_MU) / Y_SD, delta=1.0, reduction="mean")


def predict_g(model, xb):
    return model(xb) * Y_SD + Y_MU


folds = np.array_split(rng.permutation(N), 3)
summary = []
for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
    base_mae = float(np.abs(y[va] - y[tr].mean()).mean())
    mx.random.seed(10 + k)
    model = YieldNet()
    warm = optim.linear_schedule(0.0, 4e-3, 40)
    sched = optim.join_schedules([warm, optim.cosine_decay(4e-3, 400, 2e-4)], [40])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)
    best, best_ep, best_params, patience = 1e9, -1, None, 0
    step = 0
    for epoch in range(60):
        perm = mx.array(rng.permutation(len(tr)))
        tl = 0.0
        for i in range(0, len(tr), 50):
            idx = perm[i:i + 50]
            loss, g = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tl += loss.item() * idx.size
            step += 1
        pv = predict_g(model, Xva)
        mae = float(mx.abs(pv - yva).mean().item())
        hit = float((mx.abs(pv - yva) <= 50).mean().item()) * 100
        print(json.dumps({"fold": k + 1, "epoch": epoch + 1, "train_huber": round(tl / len(tr), 4),
                          "val_mae_g": round(mae, 2), "within_50g_pct": round(hit, 1),
                          "baseline_mae_g": round(base_mae, 2), "lr": round(float(opt.learning_rate.item()), 6)}))
        if mae < best - 0.05:
            best, best_ep, patience = mae, epoch + 1, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
        else:
            patience += 1
            if patience >= 8:
                print(json.dumps({"fold": k + 1, "event": "early_stop", "epoch": epoch + 1, "best_epoch": best_ep}))
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = float(mx.abs(predict_g(model, Xva) - yva).mean().item())
    print(json.dumps({"fold": k + 1, "event": "restored", "val_mae_g": round(restored, 2), "best_epoch": best_ep}))
    summary.append((k + 1, best_ep, restored, base_mae))

print("fold | best_ep | val MAE (g) | mean-baseline MAE (g)")
for f, be, m, b in summary:
    print(f"{f:4d} | {be:7d} | {m:11.2f} | {b:10.2f}")
print(f"mean | {'':7s} | {np.mean([s[2] for s in summary]):11.2f} | {np.mean([s[3] for s in summary]):10.2f}")
