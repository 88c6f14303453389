# Bicycle-courier delivery ETA.  Small data set (a few weeks of one depot), so
# the net overfits; we keep the best-validation weights and put them back at
# the end.  Gradients go through mx.distributed.all_sum so the same script runs
# under mlx.launch on several machines; here it is one process (world size 1).
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

group = mx.distributed.init()
WORLD, RANK = group.size(), group.rank()

rng = np.random.default_rng(2024 + RANK)
N = 2600
dist_km = rng.gamma(2.2, 1.6, N)
climb_m = rng.gamma(1.5, 18.0, N)
stops = rng.integers(1, 6, N)
hour = rng.uniform(7, 21, N)
rain = (rng.uniform(size=N) < 0.25).astype(float)
cargo = rng.choice([0.0, 1.0], N, p=[0.7, 0.3])
rush = np.exp(-((hour - 8.5) / 1.1) ** 2) + np.exp(-((hour - 17.5) / 1.3) ** 2)
minutes = (4 + 3.1 * dist_km * (1 + 0.35 * rush + 0.2 * rain + 0.15 * cargo)
           + 0.06 * climb_m + 2.5 * stops) * np.exp(rng.normal(0, 0.12, N))
X = np.stack([np.log1p(dist_km), climb_m / 50, stops, np.sin(2 * np.pi * hour / 24),
              np.cos(2 * np.pi * hour / 24), rain, cargo], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = np.log(minutes).astype(np.float32)
y_mu, y_sd = y.mean(), y.std()
ys = (y - y_mu) / y_sd

n_tr, n_va = 700, 900
Xtr, ytr = mx.array(X[:n_tr]), mx.array(ys[:n_tr])
Xva, yva = mx.array(X[n_tr:n_tr + n_va]), mx.array(ys[n_tr:n_tr + n_va])
Xte, yte = mx.array(X[n_tr + n_va:]), mx.array(ys[n_tr + n_va:])
true_va = minutes[n_tr:n_tr + n_va]
true_te = minutes[n_tr + n_va:]


class ETA(nn.Module):
    def __init__(self, width=256):
        super().__init__()
        self.layers = [nn.Linear(7, width), nn.Linear(width, width), nn.Linear(width, width)]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        for l in self.layers:
            x = nn.relu(l(x))
        return self.out(x).squeeze(-1)


mx.random.seed(11)
model = ETA()
opt = optim.Adam(learning_rate=4e-3)


def loss_fn(m, x, t):
    return mx.mean((m(x) - t) ** 2)


def allreduce_mean(grads):
    if WORLD == 1:
        return tree_map(lambda g: mx.distributed.all_sum(g, group=group), grads)
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, t):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, t)
    grads = allreduce_mean(grads)
    opt.update(model, grads)
    return loss


def mape(xa, truth):
    pred_min = np.exp(np.array(model(xa)) * y_sd + y_mu)
    return float(np.mean(np.abs(pred_min - truth) / truth)) * 100


# gradient check outside the compiled step
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:64], ytr[:64])
g0 = allreduce_mean(g0)
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"Running on {WORLD} process(es), rank {RANK}. {n_tr} training trips, "
      f"{n_va} validation, {len(true_te)} test.")
print(f"Before training the ETA is off by {mape(Xva, true_va):.1f}% on validation; "
      f"{len(tree_flatten(g0))} parameter arrays get a gradient, {len(dead)} of them all-zero.")

best = (float("inf"), 0, None)
patience, bad = 12, 0
t0 = time.time()
bs = 50
for epoch in range(1, 201):
    perm = mx.array(np.random.default_rng(epoch).permutation(n_tr))
    for i in range(0, n_tr, bs):
        idx = perm[i:i + bs]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
    tr_mape, va_mape = mape(Xtr, minutes[:n_tr]), mape(Xva, true_va)
    note = ""
    if va_mape < best[0]:
        snap = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
        mx.eval(snap)
        best, bad, note = (va_mape, epoch, snap), 0, " (best so far, saved)"
    else:
        bad += 1
    if epoch in (1, 2, 5) or epoch % 10 == 0 or note == "" and bad == patience:
        print(f"After epoch {epoch} the couriers' ETA misses by {tr_mape:.1f}% on the trips it "
              f"trained on and by {va_mape:.1f}% on held-out trips{note}. [{time.time() - t0:.1f}s]")
    if bad == patience:
        print(f"No improvement for {patience} epochs; stopping after epoch {epoch}.")
        break

last_va = mape(Xva, true_va)
model.update(tree_unflatten(list(best[2].items())))
mx.eval(model.parameters())
print(f"Put back the weights from epoch {best[1]}: validation error {last_va:.1f}% -> "
      f"{mape(Xva, true_va):.1f}%. On the untouched test trips it is off by "
      f"{mape(Xte, true_te):.1f}% (noise alone costs about 9.6%).")
