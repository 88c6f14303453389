"""Frost-night prediction for an orchard: 5-fold CV, each fold trained from scratch
with early stopping that restores the best weights. Compiled step with state."""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


class FrostNet(nn.Module):
    def __init__(self, d_in, hidden=96):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def make_nights(n, rng):
    # evening temp, dew point, wind, cloud cover, humidity, day of year (sin/cos)
    temp = rng.normal(5.0, 4.0, n)
    dew = temp - rng.gamma(2.0, 1.5, n)
    wind = rng.gamma(2.0, 1.2, n)
    cloud = rng.uniform(0, 1, n)
    hum = np.clip(rng.normal(0.7, 0.15, n), 0, 1)
    doy = rng.uniform(0, 2 * np.pi, n)
    z = -0.55 * temp - 0.35 * dew - 0.6 * wind - 2.0 * cloud + 1.2 * hum + 0.8 * np.cos(doy) + 1.5
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(0, 1, n) < p).astype(np.float32)
    X = np.stack([temp, dew, wind, cloud, hum, np.sin(doy), np.cos(doy)], 1).astype(np.float32)
    return X, y


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def accuracy(model, x, y):
    return float(mx.mean((model(x) > 0) == (y > 0.5)).item())


def train_fold(fold, Xtr, ytr, Xva, yva, max_epochs=60, patience=8, batch=64, seed=0):
    mx.random.seed(seed + fold)
    model = FrostNet(Xtr.shape[1])
    opt = optim.Adam(learning_rate=3e-3)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, bce)(model, x, y)
        opt.update(model, grads)
        return loss

    if fold == 0:
        g = nn.value_and_grad(model, bce)(model, mx.array(Xtr[:batch]), mx.array(ytr[:batch]))[1]
        leaves = tree_flatten(g)
        nz = sum(int(mx.any(v != 0).item()) for _, v in leaves)
        print(json.dumps({"event": "grad_check", "leaves": len(leaves), "nonzero": nz}))

    xv, yv = mx.array(Xva), mx.array(yva)
    best, best_params, bad, stopped = float("inf"), None, 0, max_epochs
    n = Xtr.shape[0]
    rng = np.random.default_rng(100 + fold)
    for epoch in range(1, max_epochs + 1):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
            mx.eval(state)
            tot += loss.item(); cnt += 1
        vloss = bce(model, xv, yv).item()
        if vloss < best - 1e-4:
            best, bad = vloss, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
            best_epoch = epoch
        else:
            bad += 1
        if epoch % 5 == 0 or epoch == 1:
            print(json.dumps({"event": "epoch", "fold": fold, "epoch": epoch,
                              "train_bce": round(tot / cnt, 4), "val_bce": round(vloss, 4),
                              "val_acc_pct": round(100 * accuracy(model, xv, yv), 2)}))
        if bad >= patience:
            stopped = epoch
            break
    model.update(best_params)
    mx.eval(model.parameters())
    return model, best, best_epoch, stopped


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    X, y = make_nights(18000, rng)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    X = (X - mu) / sd
    k = 5
    folds = np.array_split(rng.permutation(len(X)), k)
    results = []
    for f in range(k):
        va = folds[f]
        tr = np.concatenate([folds[j] for j in range(k) if j != f])
        model, best, be, stopped = train_fold(f, X[tr], y[tr], X[va], y[va])
        acc = accuracy(model, mx.array(X[va]), mx.array(y[va]))
        base = float(max(y[va].mean(), 1 - y[va].mean()))
        results.append(acc)
        print(json.dumps({"event": "fold_done", "fold": f, "best_val_bce": round(best, 4),
                          "best_epoch": be, "stopped_epoch": stopped,
                          "restored_val_acc_pct": round(100 * acc, 2),
                          "majority_baseline_pct": round(100 * base, 2)}))
    print(json.dumps({"event": "cv_summary", "mean_acc_pct": round(100 * float(np.mean(results)), 2),
                      "std_acc_pct": round(100 * float(np.std(results)), 2),
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
