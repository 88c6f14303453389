# Indigo dye vat: predict shade depth (K/S units) of a cotton skein from vat readings.
# 4-fold cross validation; each fold restarts its epoch counter and ramps the learning
# rate up from exactly 0. Validation early stopping restores the best weights per fold.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)
N = 480
ph = mx.random.uniform(10.5, 12.5, (N,))
temp = mx.random.uniform(18.0, 45.0, (N,))
dips = mx.random.randint(1, 9, (N,)).astype(mx.float32)
redox = mx.random.uniform(-850.0, -650.0, (N,))
depth = (4.0 * (1 - mx.exp(-0.35 * dips)) * mx.exp(-((ph - 11.4) ** 2))
         + 0.03 * (temp - 30.0) - 0.004 * (redox + 750.0)
         + 0.15 * mx.random.normal((N,)))
feats = mx.stack([(ph - 11.5), (temp - 31.5) / 8.0, (dips - 4.5) / 2.3, (redox + 750.0) / 58.0], axis=1)
target = depth[:, None]


class VatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 48)
        self.b = nn.Linear(48, 48)
        self.c = nn.Linear(48, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x)))))


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


K = 4
fold_size = N // K
EPOCHS, WARM, PATIENCE, BS = 60, 8, 10, 40
summary = []
for fold in range(K):
    va_idx = mx.arange(fold * fold_size, (fold + 1) * fold_size)
    tr_idx = mx.concatenate([mx.arange(0, fold * fold_size), mx.arange((fold + 1) * fold_size, N)])
    xtr, ytr, xva, yva = feats[tr_idx], target[tr_idx], feats[va_idx], target[va_idx]
    baseline = ((yva - ytr.mean()) ** 2).mean().item()

    model = VatNet()
    opt = optim.RMSprop(learning_rate=0.0)
    vg = nn.value_and_grad(model, mse)
    if fold == 0:
        _, g0 = vg(model, xtr, ytr)
        dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
        print(json.dumps({"event": "grad_check", "zero_grad_params": dead}))

    best, best_ep, best_params, wait = math.inf, 0, None, 0
    ntr = xtr.shape[0]
    for ep in range(EPOCHS):
        opt.learning_rate = 3e-3 * min(1.0, ep / WARM)
        perm = mx.random.permutation(ntr)
        tot = 0.0
        for s in range(0, ntr, BS):
            idx = perm[s:s + BS]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        v = mse(model, xva, yva).item()
        print(json.dumps({"fold": fold, "epoch": ep, "lr": round(float(opt.learning_rate.item()), 6),
                          "train_mse": round(tot / ntr, 4), "val_mse": round(v, 4),
                          "mean_predictor_mse": round(baseline, 4)}))
        if v < best - 1e-4:
            best, best_ep, wait = v, ep, 0
            best_params = tree_map(lambda a: a, model.parameters())
        else:
            wait += 1
            if wait >= PATIENCE:
                break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = mse(model, xva, yva).item()
    r2 = 100.0 * (1.0 - restored / baseline)
    summary.append(r2)
    print(json.dumps({"fold": fold, "restored_epoch": best_ep, "restored_val_mse": round(restored, 4),
                      "explained_pct": round(r2, 1)}))
print(json.dumps({"cv_explained_pct_mean": round(sum(summary) / K, 1),
                  "folds": [round(r, 1) for r in summary]}))
