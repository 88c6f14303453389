"""Glacier mass balance: daily melt (mm w.e.) from weather-station readings.
4-fold cross-validation, each fold trained from scratch (own seed), then a summary."""
import time
from pprint import pprint
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(87)
N = 4000
temp = rng.normal(2.0, 4.0, N)          # air temperature C
swin = rng.uniform(50, 350, N)          # incoming shortwave W/m2
albedo = rng.uniform(0.2, 0.85, N)
wind = rng.gamma(2.0, 1.5, N)           # m/s
debris = rng.uniform(0, 0.3, N)         # debris cover thickness m
melt = (np.maximum(temp, 0) * 4.0 + (1 - albedo) * swin * 0.045 + 0.3 * wind * np.maximum(temp, 0) ** 0.5) \
       * np.exp(-debris / 0.12) + rng.normal(0, 0.8, N)
X = np.stack([temp, swin, albedo, wind, debris], 1).astype(np.float32)
y = melt.astype(np.float32)
print(f"# {N} station-days, melt mean {y.mean():.2f} mm w.e., sd {y.std():.2f}, noise sd 0.80")


class MeltNet(nn.Module):
    def __init__(self, d_in=5, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def run_fold(k, tr_idx, te_idx, epochs=14, bs=64):
    mx.random.seed(100 + k)
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    ymu, ysd = y[tr_idx].mean(), y[tr_idx].std()
    Xtr = mx.array((X[tr_idx] - mu) / sd); ytr = mx.array((y[tr_idx] - ymu) / ysd)
    Xte = mx.array((X[te_idx] - mu) / sd); yte = y[te_idx]
    model = MeltNet()
    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)

    def test_rmse():
        pred = np.array(model(Xte)) * ysd + ymu
        return float(np.sqrt(np.mean((pred - yte) ** 2)))

    row = {"fold": k, "untrained_rmse": round(test_rmse(), 3)}
    frng = np.random.default_rng(k)
    n = len(tr_idx)
    first = True
    for ep in range(epochs):
        perm = frng.permutation(n)
        for s in range(0, n - bs + 1, bs):
            ib = mx.array(perm[s:s + bs])
            loss, grads = vg(model, Xtr[ib], ytr[ib])
            if first:
                norms = {p: float(mx.abs(g).max()) for p, g in tree_flatten(grads)}
                row["grad_leaves"] = len(norms)
                row["zero_grad_leaves"] = [p for p, v in norms.items() if v == 0.0]
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        if ep in (0, epochs // 2, epochs - 1):
            row[f"rmse_ep{ep + 1}"] = round(test_rmse(), 3)
    row["final_rmse"] = round(test_rmse(), 3)
    return row


t0 = time.time()
folds = np.array_split(rng.permutation(N), 4)
results = []
for k in range(4):
    te = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    r = run_fold(k, tr, te)
    r["secs"] = round(time.time() - t0, 1)
    pprint(r, sort_dicts=False)
    results.append(r["final_rmse"])
print(f"# CV test RMSE (mm w.e., lower is better): mean {np.mean(results):.3f} +/- {np.std(results):.3f} over 4 folds")
