"""Tower-bell change ringing: predict a ringer's striking error (ms, + = late)
from rope/bell readings. Warmup from lr 0, JSON lines, early stopping with restore."""
import json, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
N_TR, N_VA = 6000, 1500
def make(n):
    tenor_kg = rng.uniform(150, 1500, n)          # bell weight
    handstroke = rng.integers(0, 2, n)            # 1 = handstroke, 0 = backstroke
    rope_len = rng.uniform(6, 20, n)              # m
    ringer_yrs = rng.gamma(2.0, 4.0, n)
    place = rng.integers(1, 9, n)                 # place in the change (1..8)
    pull_speed = rng.normal(1.0, 0.15, n)
    fatigue = rng.uniform(0, 1, n)
    err = (18 * np.log(tenor_kg / 400) - 25 * handstroke * (1 - np.exp(-ringer_yrs / 6))
           + 2.2 * (rope_len - 12) - 30 * (pull_speed - 1) + 14 * fatigue ** 2
           + 6 * np.sin(place * 0.8) - 40 / (1 + ringer_yrs) + rng.normal(0, 6, n))
    X = np.stack([np.log(tenor_kg), handstroke, rope_len, np.log1p(ringer_yrs),
                  place / 8, pull_speed, fatigue, np.sin(place * 0.8)], 1)
    return X.astype(np.float32), err.astype(np.float32)
Xtr, ytr = make(N_TR); Xva, yva = make(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n, yva = mx.array((ytr - ym) / ys), mx.array(yva)

class StrikeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)

mx.random.seed(3)
model = StrikeNet()
steps_per_epoch = N_TR // 128
warm = optim.linear_schedule(0.0, 3e-3, 2 * steps_per_epoch)
decay = optim.cosine_decay(3e-3, 38 * steps_per_epoch, 1e-5)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [2 * steps_per_epoch]),
                  weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")
step_grad = nn.value_and_grad(model, loss_fn)

# gradient audit: every parameter gets a non-zero gradient
_, g0 = step_grad(model, Xtr[:256], ytr_n[:256])
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k

baseline_mae = float(np.abs(np.asarray(yva) - ym).mean())
best, best_params, bad, patience = float("inf"), None, 0, 5
for epoch in range(40):
    perm = mx.array(rng.permutation(N_TR))
    tot = 0.0
    lr_start = opt.learning_rate.item()
    for i in range(steps_per_epoch):
        idx = perm[i * 128:(i + 1) * 128]
        loss, grads = step_grad(model, Xtr[idx], ytr_n[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    pred_ms = model(Xva) * ys + ym
    mae = mx.mean(mx.abs(pred_ms - yva)).item()
    rmse = math.sqrt(mx.mean((pred_ms - yva) ** 2).item())
    print(json.dumps({"ep": epoch, "lr_at_start": round(lr_start, 6),
                      "huber": round(tot / steps_per_epoch, 4), "val_mae_ms": round(mae, 2),
                      "val_rmse_ms": round(rmse, 2), "mean_guess_mae_ms": round(baseline_mae, 2)}))
    if mae < best - 0.02:
        best, bad = mae, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
    else:
        bad += 1
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "ep": epoch, "best_val_mae_ms": round(best, 2)}))
            break
model.update(best_params)
final = mx.mean(mx.abs(model(Xva) * ys + ym - yva)).item()
print(json.dumps({"event": "restored", "val_mae_ms": round(final, 2), "noise_floor_ms": 4.79}))
