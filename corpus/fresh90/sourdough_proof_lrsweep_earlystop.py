"""Sourdough bakery: minutes of bulk proof a dough needs, from six readings
taken at mixing (dough temperature, room temperature, starter percentage,
starter age in hours since feeding, hydration, whole-grain share).

1. An LR range test on a throw-away model: the learning rate grows
   geometrically every step; the loss falls, then blows up at the end of the
   sweep (by design).  We pick lr = (lr at the smallest smoothed loss) / 10.
2. The real run starts from FRESH weights with that lr, plain SGD with
   momentum written by hand over the parameter tree, and early stopping on a
   validation set that restores the best weights before the test.

Output: one JSON object per line.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def emit(**kw):
    print(json.dumps(kw), flush=True)


# ---------------------------------------------------------------- data (numpy)
def bake_log(n):
    dough_t = rng.uniform(21, 29, n)
    room_t = dough_t + rng.normal(0, 1.5, n)
    starter_pct = rng.uniform(8, 30, n)
    starter_age = rng.uniform(2, 16, n)
    hydration = rng.uniform(62, 85, n)
    whole = rng.uniform(0, 0.5, n)
    # made-up proofing law: doubling every 8 C, weaker starters when under- or over-ripe
    vigor = np.exp(-((starter_age - 7.0) / 6.0) ** 2)
    rate = (2.0 ** ((dough_t - 24) / 8.0)) * (0.6 + 0.4 * np.sqrt(starter_pct / 20.0)) \
        * (0.5 + 0.5 * vigor) * (1 + 0.004 * (hydration - 70)) * (1 + 0.3 * whole) \
        * (2.0 ** ((room_t - dough_t) / 20.0))
    minutes = 300.0 / rate + rng.normal(0, 10, n)
    X = np.stack([dough_t, room_t, starter_pct, starter_age, hydration, whole], 1)
    return X.astype(np.float32), minutes.astype(np.float32)


N_TR = 20000
X, y = bake_log(N_TR + 4000)
Xtr, ytr = X[:N_TR], y[:N_TR]
Xva, yva = X[N_TR:N_TR + 2000], y[N_TR:N_TR + 2000]
Xte, yte = X[N_TR + 2000:], y[N_TR + 2000:]
mu, sd = Xtr.mean(0), Xtr.std(0)
y_mu, y_sd = ytr.mean(), ytr.std()


def prep(a, b):
    return mx.array((a - mu) / sd), mx.array((b - y_mu) / y_sd)


Xtr_m, ytr_m = prep(Xtr, ytr)
Xva_m, yva_m = prep(Xva, yva)
Xte_m, yte_m = prep(Xte, yte)


# ---------------------------------------------------------------- model
class ProofNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, t):
    return mx.mean((model(x) - t) ** 2)


def rmse_minutes(model, x, t):
    return math.sqrt(mse(model, x, t).item()) * float(y_sd)


class MomentumSGD:
    """v <- mu*v + g ; w <- w - lr*v   (hand-written, state is a parameter-shaped tree)."""

    def __init__(self, model, lr, momentum=0.9):
        self.lr, self.mu = lr, momentum
        self.v = tree_map(mx.zeros_like, model.trainable_parameters())

    def step(self, model, grads):
        self.v = tree_map(lambda v, g: self.mu * v + g, self.v, grads)
        new = tree_map(lambda w, v: w - self.lr * v, model.trainable_parameters(), self.v)
        model.update(new)


def batches(n, bs):
    idx = rng.permutation(n)
    for s in range(0, n - bs + 1, bs):     # drop the ragged tail; reshuffled every epoch
        yield mx.array(idx[s:s + bs])


BS = 64

# ---------------------------------------------------------------- 1. LR range test
probe = ProofNet()
mx.eval(probe.parameters())
grad_fn = nn.value_and_grad(probe, mse)
_, g0 = grad_fn(probe, Xtr_m[:BS], ytr_m[:BS])
dead = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() == 0.0]
emit(phase="check", leaves=len(tree_flatten(g0)), zero_grad_leaves=dead)

lr_lo, lr_hi, sweep_steps = 1e-5, 3.0, 150
mult = (lr_hi / lr_lo) ** (1.0 / (sweep_steps - 1))
opt = MomentumSGD(probe, lr_lo)
smooth, best_smooth, best_lr, k = 0.0, float("inf"), lr_lo, 0
it = batches(N_TR, BS)
for k in range(sweep_steps):
    try:
        bi = next(it)
    except StopIteration:
        it = batches(N_TR, BS)
        bi = next(it)
    loss, g = grad_fn(probe, Xtr_m[bi], ytr_m[bi])
    opt.step(probe, g)
    mx.eval(loss, probe.parameters(), opt.v)
    lv = loss.item()
    smooth = 0.9 * smooth + 0.1 * lv
    sm = smooth / (1 - 0.9 ** (k + 1))          # bias-corrected
    if sm < best_smooth:
        best_smooth, best_lr = sm, opt.lr
    if k % 15 == 0 or not math.isfinite(lv) or sm > 4 * best_smooth:
        emit(phase="lr_sweep", step=k, lr=float(f"{opt.lr:.3g}"), loss=round(lv, 4) if math.isfinite(lv) else str(lv),
             smoothed=round(sm, 4) if math.isfinite(sm) else str(sm))
    if not math.isfinite(lv) or sm > 4 * best_smooth:
        emit(phase="lr_sweep", stopped="loss exploded (expected at the top of the sweep)", step=k)
        break
    opt.lr *= mult
lr = best_lr / 10.0
emit(phase="lr_sweep", best_lr=float(f"{best_lr:.3g}"), chosen_lr=float(f"{lr:.3g}"))
del probe, opt

# ---------------------------------------------------------------- 2. real run from fresh weights
model = ProofNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, mse)
opt = MomentumSGD(model, lr)
patience, bad, best_rmse, best_epoch = 6, 0, float("inf"), -1
best_weights = None
emit(phase="train", epoch=0, val_rmse_min=round(rmse_minutes(model, Xva_m, yva_m), 2))
for epoch in range(1, 61):
    tot, nb = 0.0, 0
    for bi in batches(N_TR, BS):
        loss, g = grad_fn(model, Xtr_m[bi], ytr_m[bi])
        opt.step(model, g)
        mx.eval(loss, model.parameters(), opt.v)
        tot += loss.item()
        nb += 1
    val = rmse_minutes(model, Xva_m, yva_m)
    improved = val < best_rmse - 0.05      # min_delta 0.05 minutes
    if improved:
        best_rmse, best_epoch, bad = val, epoch, 0
        best_weights = tree_map(lambda a: mx.array(a), model.parameters())   # a copy
        mx.eval(best_weights)
    else:
        bad += 1
    emit(phase="train", epoch=epoch, train_mse_std=round(tot / nb, 5),
         val_rmse_min=round(val, 2), improved=improved)
    if bad >= patience:
        emit(phase="train", early_stop=epoch, best_epoch=best_epoch)
        break

model.update(best_weights)
test = rmse_minutes(model, Xte_m, yte_m)
baseline = float(np.sqrt(np.mean((yte - y_mu) ** 2)))
emit(phase="test", best_epoch=best_epoch, test_rmse_min=round(test, 2),
     predict_mean_rmse_min=round(baseline, 2), noise_floor_min=10.0)
