"""Ice rink resurfacing log: predict ice-surface hardness after a flood pass.

Synthetic data from a made-up hardness law.  A SiLU MLP is trained with a
hand-written GaLore-Adam optimizer: the 128x128 hidden matrix keeps its Adam
moments in a rank-8 subspace (projector from an SVD of the gradient, refreshed
every 200 steps); every other parameter gets ordinary full Adam.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_rink(n):
    air = rng.normal(8.0, 3.0, n)            # arena air temperature C
    hum = rng.uniform(30, 80, n)             # relative humidity %
    water = rng.normal(60.0, 8.0, n)         # flood water temperature C
    vol = rng.uniform(300, 700, n)           # litres laid down
    gap = rng.exponential(1.5, n)            # hours since last resurface
    skaters = rng.poisson(25, n).astype(float)
    brine = rng.normal(-8.0, 1.2, n)         # slab brine temperature C
    age = rng.uniform(0, 120, n)             # days since slab was built
    x = np.stack([air, hum, water, vol, gap, skaters, brine, age], 1)
    hard = (62.0 - 1.1 * (brine + 8.0) - 0.35 * air - 0.04 * (hum - 55)
            - 0.012 * (vol - 500) + 0.05 * (water - 60) * np.tanh(gap)
            - 0.18 * skaters * np.exp(-gap) + 2.0 * np.sin(age / 20.0)
            - 0.6 * np.maximum(air - 10, 0) ** 1.3)
    y = hard + rng.normal(0, 0.8, n)         # durometer scatter
    return x.astype(np.float32), y.astype(np.float32)


xtr, ytr = make_rink(6000)
xva, yva = make_rink(1500)
mu, sd = xtr.mean(0), xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = mx.array((xtr - mu) / sd)
Ytr = mx.array((ytr - ymu) / ysd)
Xva = mx.array((xva - mu) / sd)
base_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


class RinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 128)
        self.l2 = nn.Linear(128, 128)
        self.l3 = nn.Linear(128, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


class GaLoreAdam:
    """Adam whose 2-D leaves listed in `lowrank` keep moments in a rank-r subspace."""

    def __init__(self, params, lowrank, rank=8, refresh=200, betas=(0.9, 0.999),
                 eps=1e-8, scale=1.0):
        self.rank, self.refresh, self.scale = rank, refresh, scale
        self.b1, self.b2 = betas
        self.eps = eps
        self.lowrank = set(lowrank)
        self.t = 0
        self.proj = {}
        self.m, self.v = {}, {}
        for k, p in tree_flatten(params):
            if k in self.lowrank:
                shape = (rank, p.shape[1])
            else:
                shape = p.shape
            self.m[k] = mx.zeros(shape)
            self.v[k] = mx.zeros(shape)

    def state_arrays(self):
        return list(self.m.values()) + list(self.v.values()) + list(self.proj.values())

    def step(self, params, grads, lr):
        self.t += 1
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        flat_p = dict(tree_flatten(params))
        captured = {}
        new = []
        for k, g in tree_flatten(grads):
            p = flat_p[k]
            if k in self.lowrank:
                if (self.t - 1) % self.refresh == 0:
                    u, _, _ = mx.linalg.svd(g, stream=mx.cpu)
                    self.proj[k] = u[:, : self.rank]
                    r = self.proj[k].T @ g
                    captured[k] = float(mx.linalg.norm(r) / (mx.linalg.norm(g) + 1e-12))
                g = self.proj[k].T @ g
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            d = (self.m[k] / bc1) / (mx.sqrt(self.v[k] / bc2) + self.eps)
            if k in self.lowrank:
                d = self.scale * (self.proj[k] @ d)
            new.append((k, p - lr * d))
        return tree_unflatten(new), captured


def lr_at(step, peak=2e-3, warm=100, total=1500, floor=2e-4):
    if step <= warm:
        return peak * (step - 1) / warm          # step 1 -> exactly 0
    t = (step - warm) / (total - warm)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t))


model = RinkNet()
mx.eval(model.parameters())
opt = GaLoreAdam(model.trainable_parameters(), lowrank=["l2.weight"], rank=8,
                 refresh=200, scale=1.0)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def val_rmse():
    pred = np.array(model(Xva)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - yva) ** 2)))


TOTAL, BS = 1500, 64
print("# rink hardness, GaLore-Adam (rank 8 on l2.weight 128x128, refresh 200)")
print(f"# train {len(ytr)} val {len(yva)}  durometer scatter sd 0.80  "
      f"predict-the-mean val rmse {base_rmse:.3f}")
print(f"# untrained val rmse {val_rmse():.3f}")
print("| step | lr | train mse (z) | val rmse | mean-baseline rmse | note |")
print("|---:|---:|---:|---:|---:|---|")
t0 = time.time()
perm = rng.permutation(len(ytr))
cursor = 0
window = []
w_before = np.array(model.l1.weight)
for step in range(1, TOTAL + 1):
    if cursor + BS > len(perm):
        perm = rng.permutation(len(ytr))
        cursor = 0
    idx = mx.array(perm[cursor: cursor + BS])
    cursor += BS
    lr = lr_at(step, total=TOTAL)
    loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
    new_params, captured = opt.step(model.trainable_parameters(), grads, lr)
    model.update(new_params)
    mx.eval(model.parameters(), opt.state_arrays(), loss)
    window.append(loss.item())
    note = ""
    if captured:
        note = "subspace refresh, grad share kept " + ", ".join(
            f"{100 * v:.1f}%" for v in captured.values())
    if step == 1:
        dw = float(np.abs(np.array(model.l1.weight) - w_before).max())
        note = (note + "; " if note else "") + f"lr 0 on step 1, max |dW l1| {dw:.1e}"
    if step == 1 or step % 150 == 0 or captured:
        tm = sum(window) / len(window)
        window = []
        print(f"| {step} | {lr:.2e} | {tm:.4f} | {val_rmse():.3f} | {base_rmse:.3f} | {note} |")

final = val_rmse()
print(f"# done {TOTAL} steps in {time.time() - t0:.1f}s: val rmse {final:.3f} "
      f"vs mean baseline {base_rmse:.3f} (scatter floor 0.80)")
