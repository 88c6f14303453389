"""Weather-balloon burst altitude (km) from launch-sheet readings.

Stage "calm": daytime launches with light winds only.  Stage "full": night and
gusty launches are added (noisier, harder), so the loss jumps when the stage
switches.  In stage "full" we keep the best validation weights and stop early.
Every record is one JSON line.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

FEATS = ["balloon_g", "payload_g", "fill_m3", "surface_C", "wind_ms", "night"]


def make_sheets(n, hard):
    k = mx.random.split(mx.random.key(11 if hard else 3), 8)
    balloon = mx.random.uniform(300, 1500, (n,), key=k[0])
    payload = mx.random.uniform(150, 1200, (n,), key=k[1])
    fill = mx.random.uniform(1.5, 5.0, (n,), key=k[2])
    temp = mx.random.uniform(-25, 30, (n,), key=k[3])
    if hard:
        wind = mx.random.uniform(0, 18, (n,), key=k[4])
        night = (mx.random.uniform(shape=(n,), key=k[5]) < 0.5).astype(mx.float32)
    else:
        wind = mx.random.uniform(0, 5, (n,), key=k[4])
        night = mx.zeros((n,))
    lift = fill * 1.1 * 1000 - balloon - payload           # free lift, g
    burst = (18.0 + 9.0 * mx.log(balloon / 300.0)
             - 0.004 * mx.maximum(lift, 50.0) ** 0.8
             + 0.05 * temp - 0.12 * wind - 1.5 * night)
    noise_sd = 0.4 + 0.9 * hard
    y = burst + noise_sd * mx.random.normal((n,), key=k[6])
    X = mx.stack([balloon, payload, fill, temp, wind, night], axis=1)
    return X, y


Xc, yc = make_sheets(3000, hard=False)
Xh, yh = make_sheets(3000, hard=True)
Xtr_c, ytr_c = Xc[:2500], yc[:2500]
Xtr = mx.concatenate([Xc[:2500], Xh[:2500]])
ytr = mx.concatenate([yc[:2500], yh[:2500]])
Xva = mx.concatenate([Xc[2500:], Xh[2500:]])
yva = mx.concatenate([yc[2500:], yh[2500:]])

mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-6
ymu, ysd = ytr.mean(), ytr.std()


class BurstNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATS), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1((x - mu) / sd))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) * ysd + ymu


def loss_fn(model, X, y):
    return nn.losses.huber_loss(model(X), y, delta=1.0, reduction="mean")


def rmse_km(model, X, y):
    return mx.sqrt(mx.mean((model(X) - y) ** 2)).item()


model = BurstNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
vg = nn.value_and_grad(model, loss_fn)
clim = math.sqrt(mx.mean((yva - ytr.mean()) ** 2).item())   # climatology baseline


def run_epoch(X, y, bs=100):
    perm = mx.random.permutation(X.shape[0])
    tot, nb = 0.0, 0
    for s in range(0, X.shape[0], bs):
        idx = perm[s:s + bs]
        loss, g = vg(model, X[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    return tot / nb


print(json.dumps({"event": "start", "n_train": int(Xtr.shape[0]), "n_val": int(Xva.shape[0]),
                  "baseline_rmse_km": round(clim, 3)}))

for ep in range(1, 9):
    tr = run_epoch(Xtr_c, ytr_c)
    print(json.dumps({"stage": "calm", "epoch": ep, "huber": round(tr, 4),
                      "val_rmse_km": round(rmse_km(model, Xva, yva), 3),
                      "baseline_rmse_km": round(clim, 3)}))

best, best_w, bad, patience = float("inf"), None, 0, 5
for ep in range(1, 41):
    tr = run_epoch(Xtr, ytr)
    va = rmse_km(model, Xva, yva)
    rec = {"stage": "full", "epoch": ep, "huber": round(tr, 4), "val_rmse_km": round(va, 3),
           "lr": round(opt.learning_rate.item(), 5)}
    if va < best - 1e-3:
        best, bad = va, 0
        best_w = tree_map(lambda a: mx.array(a), model.parameters())
        rec["best"] = True
    else:
        bad += 1
    print(json.dumps(rec))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": ep, "restore_val_rmse_km": round(best, 3)}))
        break

model.update(best_w)
mx.eval(model.parameters())
final = rmse_km(model, Xva, yva)
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "done", "val_rmse_km": round(final, 3), "baseline_rmse_km": round(clim, 3),
                  "skill_pct": round(100 * (1 - final / clim), 1), "params": n_par}))
