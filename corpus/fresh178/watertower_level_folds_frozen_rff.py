"""Town water tower: predict the lowest level (metres of water) the tower reaches
overnight from the evening operations log. Random Fourier features (a fixed, frozen
projection) feed a small trainable head; 4-fold cross-validation with early
stopping that restores the best weights of each fold."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("watertower")

rng = np.random.default_rng(2024)
N = 4000
evening = rng.uniform(6, 14, N)             # m of water at 21:00
pump_h = rng.uniform(0, 8, N)               # booster-pump hours scheduled overnight
temp = rng.uniform(4, 33, N)                # forecast max temperature, deg C
weekend = (rng.random(N) < 2 / 7).astype(float)
pop_k = rng.uniform(3, 12, N)               # thousands of people served
irrigation = (rng.random(N) < 0.3).astype(float)  # garden-watering season
leak = rng.gamma(2.0, 0.5, N)               # district leak index
low = (evening + 0.55 * pump_h - 0.018 * pop_k * np.maximum(temp - 12, 0) - 1.4 * irrigation * pop_k / 8
       - 0.35 * leak - 0.6 * weekend - 2.0 * np.exp(-pump_h / 2) + rng.normal(0, 0.35, N))
X = np.stack([evening, pump_h, temp, weekend, pop_k, irrigation, leak], 1).astype(np.float32)
y = low.astype(np.float32)


class RFFRegressor(nn.Module):
    def __init__(self, d_in, n_feat=128, width=64):
        super().__init__()
        self.rff = nn.Linear(d_in, n_feat)      # fixed random projection, frozen below
        self.hidden = nn.Linear(n_feat, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        z = mx.cos(self.rff(x)) * math.sqrt(2.0 / self.rff.weight.shape[0])
        return self.out(nn.relu(self.hidden(z * 8.0))).squeeze(-1)


def mse(model, x, t):
    return ((model(x) - t) ** 2).mean()


folds = np.array_split(rng.permutation(N), 4)
table = []
for k, va_idx in enumerate(folds, 1):
    tr_idx = np.concatenate([f for j, f in enumerate(folds, 1) if j != k])
    mu, sd = X[tr_idx].mean(0), X[tr_idx].std(0)
    ymu, ysd = y[tr_idx].mean(), y[tr_idx].std()
    xtr, xva = mx.array((X[tr_idx] - mu) / sd), mx.array((X[va_idx] - mu) / sd)
    ttr = mx.array((y[tr_idx] - ymu) / ysd)
    yva = y[va_idx]

    mx.random.seed(100 + k)
    model = RFFRegressor(7)
    model.rff.weight = mx.random.normal(model.rff.weight.shape) * 0.6
    model.rff.bias = mx.random.uniform(0, 2 * math.pi, model.rff.bias.shape)
    model.rff.freeze()
    mx.eval(model.parameters())
    rff_before = np.array(model.rff.weight)

    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, mse)
    if k == 1:
        _, g = vg(model, xtr[:256], ttr[:256])
        names = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) > 0]
        log.info("grad check: %d trainable tensors with nonzero grad: %s", len(names), ", ".join(names))

    best, best_ep, best_w, bad = float("inf"), 0, None, 0
    base_mae = float(np.abs(yva - y[tr_idx].mean()).mean())
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        for i in range(0, len(tr_idx), 100):
            b = perm[i:i + 100]
            loss, g = vg(model, xtr[b], ttr[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
        pred = np.array(model(xva)) * ysd + ymu
        mae = float(np.abs(pred - yva).mean())
        r2 = 1 - float(((pred - yva) ** 2).sum() / ((yva - yva.mean()) ** 2).sum())
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d ep %2d  train_mse(z) %.4f  val MAE %.3f m  R2 %.3f  (mean-level baseline %.3f m)",
                     k, ep, loss.item(), mae, r2, base_mae)
        if mae < best - 1e-4:
            best, best_ep, bad = mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
        else:
            bad += 1
            if bad >= 8:
                log.info("fold %d: no gain for 8 epochs, stop at ep %d", k, ep)
                break
    model.update(best_w)
    pred = np.array(model(xva)) * ysd + ymu
    mae = float(np.abs(pred - yva).mean())
    drift = float(np.abs(np.array(model.rff.weight) - rff_before).max())
    log.info("fold %d: restored ep %d weights, val MAE %.3f m (frozen rff max |dW| = %.1e)", k, best_ep, mae, drift)
    table.append((k, best_ep, mae, base_mae))

print("\nfold | best_ep | MAE_m  | baseline_m | gain")
for k, e, m, b in table:
    print(f"{k:4d} | {e:7d} | {m:6.3f} | {b:10.3f} | {100 * (1 - m / b):5.1f}%")
print(f"mean | {'':7s} | {np.mean([t[2] for t in table]):6.3f} | {np.mean([t[3] for t in table]):10.3f} |")
