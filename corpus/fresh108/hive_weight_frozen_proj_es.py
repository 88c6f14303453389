"""Beehive scale logger: predict the daily hive weight change (grams) from
weather + colony readings.  Random Fourier projection is frozen on purpose
(fixed feature map); only the small head trains.  3 folds, each from
scratch, early stopping that restores the best weights from disk."""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
N = 3000
# features: max temp, rain mm, wind, sun hours, frames of brood, forager index,
# nectar flow (0..1), day-of-season sin
X = np.stack([
    rng.normal(22, 5, N), rng.exponential(2.0, N), rng.gamma(2.0, 2.0, N),
    rng.uniform(0, 12, N), rng.integers(2, 10, N).astype(float),
    rng.uniform(0.3, 1.0, N), rng.beta(2, 3, N), np.sin(rng.uniform(0, np.pi, N)),
], axis=1).astype(np.float32)
flight = np.clip((X[:, 0] - 12) / 12, 0, 1) * np.exp(-X[:, 1] / 3) * np.exp(-X[:, 2] / 10)
gain = 900 * flight * X[:, 6] * X[:, 5] * (0.5 + X[:, 3] / 12) * X[:, 7]
consumption = 60 + 25 * X[:, 4]
y = (gain - consumption + rng.normal(0, 40, N)).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
Xn = (X - mu) / sd
Y_SCALE = 300.0


class HiveNet(nn.Module):
    def __init__(self, d_in=8, n_feat=192, hidden=48):
        super().__init__()
        self.proj = nn.Linear(d_in, n_feat)           # fixed random map
        self.proj.weight = mx.random.normal(self.proj.weight.shape) * 0.8
        self.proj.bias = mx.random.uniform(0, 2 * np.pi, (n_feat,))
        self.head1 = nn.Linear(n_feat, hidden)
        self.head2 = nn.Linear(hidden, 1)

    def __call__(self, x):
        phi = mx.cos(self.proj(x)) * np.sqrt(2.0 / self.proj.weight.shape[0])
        return self.head2(nn.gelu(self.head1(phi * 8.0))).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb / Y_SCALE, delta=0.5, reduction="mean")


def val_mae_g(model, xv, yv):
    return float(mx.mean(mx.abs(model(xv) * Y_SCALE - yv)).item())


def emit(**kw):
    print(json.dumps(kw), flush=True)


K = 3
folds = np.array_split(rng.permutation(N), K)
tmp = tempfile.mkdtemp(prefix="hive_")
t0 = time.time()
emit(event="data", rows=N, folds=K, y_mean_g=round(float(y.mean()), 1),
     y_sd_g=round(float(y.std()), 1), noise_sd_g=40)
results = []
for k in range(K):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(K) if j != k])
    xt, yt = mx.array(Xn[tr]), mx.array(y[tr])
    xv, yv = mx.array(Xn[va]), mx.array(y[va])
    mx.random.seed(100 + k)
    model = HiveNet()
    model.proj.freeze()
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    ckpt = os.path.join(tmp, f"fold{k}_best.safetensors")
    best, best_ep, bad, patience = float("inf"), -1, 0, 6
    proj_before = np.array(model.proj.weight)
    emit(event="fold_start", fold=k, train=len(tr), val=len(va),
         trainable_params=n_train, all_params=n_all,
         val_mae_g=round(val_mae_g(model, xv, yv), 1))
    for ep in range(60):
        perm = rng.permutation(len(tr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - 63, 64):
            idx = mx.array(perm[i:i + 64])
            loss, grads = step_fn(model, xt[idx], yt[idx])
            if k == 0 and ep == 0 and i == 0:
                flat = tree_flatten(grads)
                zero = [n for n, g in flat if float(mx.abs(g).max().item()) == 0.0]
                emit(event="grad_check", leaves=len(flat), zero_leaves=zero,
                     frozen=[n for n, _ in tree_flatten(model.proj.parameters())])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        mae = val_mae_g(model, xv, yv)
        if mae < best - 0.1:
            best, best_ep, bad = mae, ep, 0
            model.save_weights(ckpt)
        else:
            bad += 1
        if ep % 5 == 0 or bad == patience:
            emit(event="epoch", fold=k, epoch=ep, train_huber=round(tot / nb, 5),
                 val_mae_g=round(mae, 1), best_val_mae_g=round(best, 1), stale=bad)
        if bad == patience:
            break
    model.load_weights(ckpt)
    mx.eval(model.parameters())
    restored = val_mae_g(model, xv, yv)
    proj_moved = float(np.abs(np.array(model.proj.weight) - proj_before).max())
    emit(event="fold_end", fold=k, stopped_epoch=ep, best_epoch=best_ep,
         restored_val_mae_g=round(restored, 1), proj_max_change=proj_moved,
         secs=round(time.time() - t0, 1))
    results.append(restored)
emit(event="done", cv_mae_g=round(float(np.mean(results)), 1),
     per_fold=[round(r, 1) for r in results],
     predict_mean_mae_g=round(float(np.mean(np.abs(y - y.mean()))), 1),
     secs=round(time.time() - t0, 1))
