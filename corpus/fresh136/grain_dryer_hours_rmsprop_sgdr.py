# On-farm batch grain dryer: predict hours needed to bring a batch down to storage moisture
# from the loading sheet.  MLP + RMSprop, cosine schedule with warm restarts (SGDR), early stopping that restores the best weights.
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2024)
N = 6000
excess = rng.normal(1.0, 3.0, N)           # inlet moisture above 20 %, points
fines = rng.gamma(1.5, 4.0, N)             # fines and trash, % by weight
ambient = rng.normal(8.0, 8.0, N)          # ambient air temperature C
burner = rng.integers(6, 17, N).astype(np.float64)      # burner setting step
depth = rng.uniform(2.0, 8.0, N)           # grain column depth, dm
preheat = rng.uniform(0.0, 10.0, N)        # plenum pre-heat, minutes x10
maize = (rng.random(N) < 0.4).astype(np.float64)   # maize (1) or wheat (0)
load_t = rng.normal(75.0, 10.0, N)         # batch load, tonnes

dry_h = (3.0 + 0.15 * np.maximum(excess, 0.0) - 0.04 * np.minimum(excess, 0.0)
        + 0.05 * fines + 0.02 * ((ambient - 5.0) / 5.0) ** 2
        - 0.06 * (burner - 10.0) + 0.05 * (depth - 4.5) ** 2
        - 0.08 * np.log1p(preheat) + 0.25 * maize + 0.01 * (load_t - 75.0))
dry_h = dry_h * np.exp(rng.normal(0.0, 0.04, N))

X = np.stack([excess, fines, ambient, burner, depth, preheat, maize, load_t], axis=1)
n_tr = 4800
mu, sd = X[:n_tr].mean(0), X[:n_tr].std(0)
X = ((X - mu) / sd).astype(np.float32)
y = dry_h.astype(np.float32)
Xtr, ytr = mx.array(X[:n_tr]), mx.array(y[:n_tr])
Xva, yva = mx.array(X[n_tr:]), mx.array(y[n_tr:])
baseline_mae = float(np.abs(y[n_tr:] - y[:n_tr].mean()).mean())


class DryerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
        self.bias0 = mx.array(float(y[:n_tr].mean()))

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) + self.bias0


mx.random.seed(5)
model = DryerNet()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)

# gradient audit before training: every trainable tensor must receive signal
_, g0 = loss_and_grad(model, Xtr[:256], ytr[:256])
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "n_tensors": len(norms),
                  "min_norm": round(min(norms.values()), 6),
                  "zero_tensors": [k for k, v in norms.items() if v == 0.0]}))

opt = optim.RMSprop(learning_rate=0.0, alpha=0.99, eps=1e-8)
cycles = [12, 24, 48]          # epochs per cosine cycle; lr jumps back up at each boundary
eta_max, eta_min = 3.0e-3, 3.0e-5
bs = 128
steps_per_epoch = n_tr // bs
patience = 30
best = {"val_mae": float("inf"), "epoch": -1, "params": None}
since_best = 0
epoch = 0
stopped = False

for ci, clen in enumerate(cycles, start=1):
    if ci > 1:
        print(json.dumps({"event": "warm_restart", "cycle": ci, "lr": eta_max}))
    for e_in in range(clen):
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for s in range(steps_per_epoch):
            t = (e_in + s / steps_per_epoch) / clen
            opt.learning_rate = eta_min + 0.5 * (eta_max - eta_min) * (1.0 + math.cos(math.pi * t))
            idx = perm[s * bs:(s + 1) * bs]
            loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        val_mae = mx.mean(mx.abs(model(Xva) - yva)).item()
        improved = val_mae < best["val_mae"] - 1e-5
        if improved:
            best = {"val_mae": val_mae, "epoch": epoch,
                    "params": tree_flatten(model.parameters())}
            since_best = 0
        else:
            since_best += 1
        print(json.dumps({"ep": epoch, "cycle": ci, "lr": round(float(opt.learning_rate.item()), 7),
                          "train_mse": round(tot / steps_per_epoch, 5),
                          "val_mae_h": round(val_mae, 4),
                          "baseline_mae": round(baseline_mae, 4),
                          "best": round(best["val_mae"], 4)}))
        epoch += 1
        if since_best >= patience:
            print(json.dumps({"event": "early_stop", "ep": epoch - 1, "since_best": since_best}))
            stopped = True
            break
    if stopped:
        break

model.update(tree_unflatten(best["params"]))
mx.eval(model.parameters())
restored = mx.mean(mx.abs(model(Xva) - yva)).item()
print(json.dumps({"event": "restore_best", "best_epoch": best["epoch"],
                  "val_mae_h": round(restored, 4),
                  "baseline_mae": round(baseline_mae, 4),
                  "skill_vs_baseline_pct": round(100.0 * (1.0 - restored / baseline_mae), 1)}))
