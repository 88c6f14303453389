"""Lichenometry: estimate the exposure age (centuries) of a moraine boulder from lichen
thallus measurements, with a heteroscedastic Gaussian head (mean + log-variance).
The training objective is the Gaussian negative log-likelihood, which goes below zero
once the predicted spread gets narrow.  Early stopping on validation NLL (patience 6)
and the best weights are restored before the final test report.  JSON-lines output."""
import json, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
N = 9000
age = rng.uniform(0.2, 4.0, N)                       # centuries
climate = rng.uniform(0, 1, N)                       # wetness index
aspect = rng.uniform(0, 2 * np.pi, N)
growth = 0.6 + 0.8 * climate + 0.15 * np.cos(aspect)
largest = 45 * np.log1p(growth * age) + rng.normal(0, 1.0 + 2.0 * age, N)   # mm, noisier on old surfaces
mean5 = 0.7 * largest + rng.normal(0, 2.0, N)
count = rng.poisson(3 + 6 * age)
X = np.stack([largest, mean5, np.log1p(count), climate, np.sin(aspect), np.cos(aspect)], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = age.astype(np.float32)
Xtr, ytr = mx.array(X[:7000]), mx.array(y[:7000])
Xva, yva = mx.array(X[7000:8000]), mx.array(y[7000:8000])
Xte, yte = mx.array(X[8000:]), mx.array(y[8000:])


class AgeHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.mean = nn.Linear(96, 1)
        self.logvar = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -8.0, 6.0)


def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))


def metrics(model, x, y):
    m, lv = model(x)
    l = mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))
    mae = mx.mean(mx.abs(m - y))
    cover = mx.mean(mx.abs(m - y) <= 1.96 * mx.exp(0.5 * lv))
    mx.eval(l, mae, cover)
    return l.item(), mae.item(), cover.item()


mx.random.seed(3)
model = AgeHead()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, nll)

_, g = vg(model, Xtr[:128], ytr[:128])
leaves = tree_flatten(g)
print(json.dumps({"event": "grad_check", "leaves": len(leaves),
                  "zero_leaves": sum(int(mx.all(v == 0).item()) for _, v in leaves)}))

best, best_epoch, bad, patience = float("inf"), 0, 0, 6
best_params = None
t0 = time.time()
for epoch in range(1, 81):
    perm = mx.array(np.random.default_rng(epoch).permutation(7000))
    run, nb = 0.0, 0
    for i in range(0, 7000, 128):
        idx = perm[i:i + 128]
        l, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        run += l.item(); nb += 1
    v_nll, v_mae, v_cov = metrics(model, Xva, yva)
    improved = v_nll < best - 1e-4
    if improved:
        best, best_epoch, bad = v_nll, epoch, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
    print(json.dumps({"epoch": epoch, "train_nll": round(run / nb, 4), "val_nll": round(v_nll, 4),
                      "val_mae_centuries": round(v_mae, 4), "val_95pct_coverage": round(v_cov, 3),
                      "best_epoch": best_epoch}))
    if bad >= patience:
        print(json.dumps({"event": "early_stop", "epoch": epoch, "restoring_epoch": best_epoch}))
        break

model.update(best_params)
t_nll, t_mae, t_cov = metrics(model, Xte, yte)
print(json.dumps({"event": "test", "nll": round(t_nll, 4), "mae_centuries": round(t_mae, 4),
                  "coverage_95": round(t_cov, 3), "seconds": round(time.time() - t0, 1)}))
