"""Spectral unmixing: estimate the concentrations of three absorbing species
from a noisy 60-channel absorbance spectrum (Beer-Lambert: A = sum_k c_k eps_k
plus a sloping baseline and detector noise).  Small MLP with a softplus head so
concentrations stay non-negative; AdamW on shuffled minibatches, early stopping
on validation RMSE with patience, and the best weights are restored at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)

wl = np.linspace(400, 700, 60)
bands = [(450, 18, 1.0), (520, 25, 0.8), (600, 30, 1.2)]
EPS = np.stack([h * np.exp(-0.5 * ((wl - m) / s) ** 2) for m, s, h in bands])  # (3, 60)
# species 2 also has a weak shoulder overlapping species 1
EPS[1] += 0.35 * np.exp(-0.5 * ((wl - 470) / 15) ** 2)


def make(n):
    c = rng.gamma(2.0, 0.5, size=(n, 3)).astype(np.float32)
    base = rng.normal(0, 0.05, size=(n, 1)) + rng.normal(0, 0.02, size=(n, 1)) * (wl - 550) / 150
    a = c @ EPS + base + rng.normal(0, 0.02, size=(n, wl.size))
    return a.astype(np.float32), c


A_tr, C_tr = make(3000)
A_va, C_va = make(600)
mu, sd = A_tr.mean(0), A_tr.std(0) + 1e-6
to_x = lambda a: mx.array((a - mu) / sd)
X_tr, Y_tr, X_va, Y_va = to_x(A_tr), mx.array(C_tr), to_x(A_va), mx.array(C_va)


class Unmixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(60, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, 3)

    def __call__(self, x):
        return nn.softplus(self.head(self.body(x)))


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def rmse(model, x, y):
    return mx.sqrt(mx.mean((model(x) - y) ** 2, axis=0))


model = Unmixer()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, X_tr[:64], Y_tr[:64])
zero = [k for k, v in tree_flatten(g) if not mx.any(v != 0).item()]
print(f"check; leaves={len(tree_flatten(g))}; all_zero_grad_leaves={len(zero)}")
ref = float(np.sqrt(((C_va - C_tr.mean(0)) ** 2).mean()))
print(f"data; train={len(A_tr)}; val={len(A_va)}; predict_mean_rmse={ref:.4f}; noise_sd=0.02")

best, best_ep, best_params, patience, wait = float("inf"), 0, None, 6, 0
t0 = time.time()
BATCH = 100
for epoch in range(1, 61):
    perm = mx.array(rng.permutation(len(A_tr)))
    tot = 0.0
    for i in range(0, len(A_tr), BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = vg(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.size
    per_species = rmse(model, X_va, Y_va)
    val = mx.sqrt(mx.mean(per_species ** 2)).item()
    improved = val < best - 1e-4
    if improved:
        best, best_ep, wait = val, epoch, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
    else:
        wait += 1
    print(f"epoch={epoch:02d}; train_mse={tot / len(A_tr):.5f}; val_rmse={val:.4f}; "
          f"per_species={', '.join(f'{v:.3f}' for v in per_species.tolist())}; "
          f"wait={wait}/{patience}; {'*' if improved else ' '} t={time.time() - t0:.1f}s")
    if wait >= patience:
        print(f"stop; no val improvement for {patience} epochs")
        break

model.update(best_params)
final = rmse(model, X_va, Y_va).tolist()
print(f"restored; best_epoch={best_ep}; val_rmse={best:.4f}; "
      f"vs_predict_mean={best / ref:.1%}; per_species={[round(v, 4) for v in final]}")
