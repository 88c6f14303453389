"""Ropewalk QA: breaking load (kN) of laid ropes from 7 ropewalk measurements.

A snapshot of the network taken before the first update ("as-built") is kept in a
second module and scored on every report line next to the live network, so the
reader can see how far training has moved the model from where it started.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(394)
N_TR, N_VA = 6000, 1500


def make_ropes(n):
    dia = rng.uniform(8, 40, n)            # mm
    strands = rng.integers(3, 5, n)        # 3 or 4 strand
    lay = rng.uniform(2.5, 4.5, n)         # lay length / diameter
    fibre = rng.integers(0, 3, n)          # manila, hemp, polyester
    moist = rng.uniform(4, 18, n)          # % moisture
    tar = rng.integers(0, 2, n)            # tarred
    age = rng.uniform(0, 10, n)            # years in store
    k_fibre = np.array([0.52, 0.45, 0.95])[fibre]
    load = (k_fibre * (dia ** 2) * 0.11 * (1 + 0.05 * (strands == 4))
            * (1 - 0.06 * (lay - 3.3) ** 2) * (1 - 0.012 * moist)
            * (1 - 0.08 * tar) * np.exp(-0.03 * age))
    load = load + rng.normal(0, 2.0, n)
    X = np.stack([dia, strands, lay, fibre, moist, tar, age], 1).astype(np.float32)
    return X, load.astype(np.float32)


Xtr, ytr = make_ropes(N_TR)
Xva, yva = make_ropes(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = yva


class RopeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


mx.random.seed(11)
net = RopeNet()
as_built = RopeNet()
as_built.update(tree_map(lambda a: mx.array(a), net.parameters()))
as_built.freeze()
mx.eval(net.parameters(), as_built.parameters())


def rmse_kN(model):
    pred = np.array(model(Xva_m)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yva_np) ** 2)))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


BATCH, EPOCHS = 100, 16
steps_per_epoch = N_TR // BATCH
warm = steps_per_epoch  # one epoch of warm-up from lr 0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.step_decay(3e-3, 0.5, 4 * steps_per_epoch)], [warm])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
vg = nn.value_and_grad(net, loss_fn)

print(f"ropes: {N_TR} train / {N_VA} check, target sd {ysd:.1f} kN, noise sd 2.0 kN")
print(f"predict-the-mean rmse: {float(np.sqrt(np.mean((ymu - yva_np) ** 2))):.2f} kN")
print(" epoch |   lr_now  | train_mse(z) | live_rmse_kN | as_built_rmse_kN | secs")
print("-------+-----------+--------------+--------------+------------------+------")
print(f" {0:5d} | {float(sched(mx.array(0))):9.2e} | {'-':>12} | {rmse_kN(net):12.3f} | {rmse_kN(as_built):16.3f} |  0.0")
t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    perm = np.random.default_rng(ep).permutation(N_TR)
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, g = vg(net, Xtr_m[idx], ytr_m[idx])
        opt.update(net, g)
        mx.eval(loss, net.parameters(), opt.state)
        tot += loss.item()
    print(f" {ep:5d} | {float(sched(opt.step)):9.2e} | {tot / steps_per_epoch:12.4f} | "
          f"{rmse_kN(net):12.3f} | {rmse_kN(as_built):16.3f} | {time.perf_counter() - t0:4.1f}")

moved = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
            zip(tree_flatten(net.parameters()), tree_flatten(as_built.parameters())))
print(f"largest weight change live vs as-built: {moved:.3f}")
print(f"done: live {rmse_kN(net):.2f} kN vs as-built {rmse_kN(as_built):.2f} kN")
