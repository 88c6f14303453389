"""Tower-clock pendulum rate (s/day) from 6 weekly inspection readings.

Incremental network quantization: weights of the hidden layers are moved to
signed powers of two in four partitions (largest magnitudes first), each
partition locked, and the remaining float weights retrained in between.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_TR, N_VA = 6000, 1500


def make(n):
    temp = rng.normal(12.0, 6.0, n)          # tower temperature C
    humid = rng.uniform(40, 95, n)           # relative humidity %
    oil_days = rng.uniform(0, 365, n)        # days since oiling
    wind = rng.gamma(2.0, 4.0, n)            # gust m/s
    amp = rng.normal(3.0, 0.4, n)            # swing amplitude deg
    bob = rng.normal(0.0, 1.0, n)            # bob regulating nut turns
    rate = (-0.45 * (temp - 12.0) + 0.02 * (humid - 60) + 0.004 * oil_days
            + 0.9 * np.tanh(0.15 * (wind - 8)) - 1.7 * (amp - 3.0) ** 2
            + 2.5 * bob + rng.normal(0, 0.6, n))
    x = np.stack([temp, humid, oil_days, wind, amp, bob], 1)
    return x.astype(np.float32), rate.astype(np.float32)


xtr, ytr = make(N_TR)
xva, yva = make(N_VA)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.l3 = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


def to_pow2(w, n_levels=7):
    w = np.asarray(w)
    top = np.floor(np.log2(4.0 * np.abs(w).max() / 3.0))
    lo = top - n_levels + 1
    a = np.abs(w)
    e = np.clip(np.round(np.log2(np.maximum(a, 1e-12))), lo, top)
    q = np.sign(w) * 2.0 ** e
    q[a < 2.0 ** (lo - 1)] = 0.0
    return q.astype(np.float32)


def rmse_s_per_day(model, X, Y):
    return float(mx.sqrt(mx.mean((model(X) - Y) ** 2)).item()) * ys


model = Net()
mx.eval(model.parameters())
QNAMES = ["l1.weight", "l2.weight", "l3.weight"]
masks = {k: mx.ones_like(v) for k, v in tree_flatten(model.parameters()) if k in QNAMES}


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def masked(grads):
    flat = dict(tree_flatten(grads))
    for k in QNAMES:
        flat[k] = flat[k] * masks[k]
    return tree_unflatten(list(flat.items()))


def run_phase(label, epochs, lr0, bs=64):
    steps = epochs * (N_TR // bs)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr0, 40), optim.cosine_decay(lr0, steps - 40, lr0 * 0.05)], [40])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(N_TR))
        tot = 0.0
        for i in range(N_TR // bs):
            idx = perm[i * bs:(i + 1) * bs]
            loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
            opt.update(model, masked(g))
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
        print(f"  {label}  epoch {ep:2d}  lr_now {opt.learning_rate.item():.5f}  "
              f"train_mse {tot / (N_TR // bs):.4f}  valid_rmse {rmse_s_per_day(model, Xva, Yva):.3f} s/day")


baseline = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
print(f"data  train {N_TR}  valid {N_VA}  predict-the-mean rmse {baseline:.3f} s/day  noise floor 0.600 s/day")
t0 = time.time()
print("[float] fitting the float network")
run_phase("float", 8, 0.05)
float_rmse = rmse_s_per_day(model, Xva, Yva)

for frac in [0.5, 0.75, 0.875, 1.0]:
    flat = dict(tree_flatten(model.parameters()))
    for k in QNAMES:
        w = np.array(flat[k])
        m = np.array(masks[k])
        free = m > 0
        a = np.abs(w) * free
        n_lock = int(round(frac * w.size)) - int((~free).sum())
        if n_lock > 0:
            order = np.argsort(-a, axis=None)[:n_lock]
            newlock = np.zeros(w.size, bool)
            newlock[order] = True
            newlock = newlock.reshape(w.shape) & free
            q = to_pow2(w)
            w = np.where(newlock, q, w)
            m = np.where(newlock, 0.0, m)
        flat[k] = mx.array(w)
        masks[k] = mx.array(m.astype(np.float32))
    model.update(tree_unflatten(list(flat.items())))
    mx.eval(model.parameters())
    locked = sum(int((np.array(masks[k]) == 0).sum()) for k in QNAMES)
    total = sum(masks[k].size for k in QNAMES)
    print(f"[lock {frac:.3f}] locked {locked}/{total} weights  valid_rmse right after locking "
          f"{rmse_s_per_day(model, Xva, Yva):.3f} s/day")
    before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    run_phase(f"retrain@{frac:.3f}", 3, 0.02)
    after = dict(tree_flatten(model.parameters()))
    moved = {k: float(np.abs(np.array(after[k]) - before[k]).max()) for k in before}
    print("  largest change per tensor: " + "  ".join(f"{k}={v:.2e}" for k, v in moved.items()))

codes = set()
for k in QNAMES:
    w = np.array(dict(tree_flatten(model.parameters()))[k])
    nz = np.abs(w[w != 0])
    codes |= set(np.round(np.log2(nz)).astype(int).tolist())
    assert np.allclose(np.log2(nz), np.round(np.log2(nz)))
print(f"done  {time.time() - t0:.1f}s  float rmse {float_rmse:.3f}  power-of-two rmse "
      f"{rmse_s_per_day(model, Xva, Yva):.3f} s/day  distinct exponents {len(codes)}  "
      f"predict-the-mean {baseline:.3f}")
