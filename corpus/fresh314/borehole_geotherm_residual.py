"""Borehole temperature logs: learn the departure from a linear geotherm.

Synthetic steady-state conduction with radiogenic heat plus a shallow
post-glacial warming signal.  The network predicts the residual
T(z) - (T0 + q z / k) in degC; stage 2 adds a heat-equation term
d2T/dz2 = -A/k evaluated with nested mx.grad on collocation depths.
Output is CSV.  Stage 1 ends with a checkpoint that is reloaded into a
fresh model and optimizer before stage 2.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_HOLES, N_DEPTH = 48, 30
Z_MAX = 3.0  # km


def make_holes(n):
    T0 = rng.uniform(6.0, 14.0, n)             # degC
    q = rng.uniform(50.0, 90.0, n)             # mW/m2
    k = rng.uniform(2.0, 3.5, n)               # W/m/K
    A = rng.uniform(0.5, 2.5, n)               # uW/m3
    warm = rng.uniform(0.5, 2.0, n)            # degC surface warming
    return T0, q, k, A, warm


def temperature(z, T0, q, k, A, warm):
    # q/k in K/km ; A/k in K/km^2 (uW/m3 / W/m/K = 1e-6 K/m2 = 1 K/km2)
    base = T0 + q * z / k
    rad = -0.5 * (A / k) * z ** 2
    paleo = warm * np.exp(-z / 0.15)           # shallow transient, not steady
    return base, rad + paleo


def table(holes, jitter):
    T0, q, k, A, warm = holes
    rows, res, baseT = [], [], []
    for i in range(len(T0)):
        z = np.sort(rng.uniform(0.02, Z_MAX, N_DEPTH))
        base, r = temperature(z, T0[i], q[i], k[i], A[i], warm[i])
        r = r + jitter * rng.standard_normal(N_DEPTH)
        for j in range(N_DEPTH):
            rows.append([z[j], T0[i], q[i], k[i], A[i]])
        res.append(r)
        baseT.append(base)
    return np.array(rows, np.float32), np.concatenate(res).astype(np.float32)


train_holes, val_holes = make_holes(N_HOLES), make_holes(12)
Xtr, ytr = table(train_holes, 0.25)
Xva, yva = table(val_holes, 0.25)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
mu_m, sd_m = mx.array(mu), mx.array(sd)


class ResidualNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(5, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1((x - mu_m) / sd_m))
        h = mx.tanh(self.l2(h)) + h
        h = mx.tanh(self.l3(h)) + h
        return self.head(h).squeeze(-1)


def data_mse(model, X, y):
    return mx.mean(mx.square(model(X) - y))


def curvature(model, X):
    """d2(residual)/dz2 in K/km^2 at rows X (depth is column 0)."""
    rest = X[:, 1:]

    def f(z):
        return model(mx.concatenate([z[:, None], rest], axis=1)).sum()

    d1 = mx.grad(f)
    d2 = mx.grad(lambda z: d1(z).sum())
    return d2(X[:, 0])


def phys_mse(model, Xc):
    # steady conduction: residual'' = -A/k ; linear geotherm part has zero curvature
    target = -Xc[:, 4] / Xc[:, 3]
    return mx.mean(mx.square(curvature(model, Xc) - target))


def colloc(n):
    idx = rng.integers(0, len(Xtr), n)
    X = Xtr[idx].copy()
    X[:, 0] = rng.uniform(0.3, Z_MAX, n)  # deeper than the transient
    return mx.array(X)


def val_rmse(model):
    return mx.sqrt(mx.mean(mx.square(model(Xva_m) - yva_m))).item()


BASELINE = float(np.sqrt(np.mean(yva ** 2)))  # plain linear geotherm


def make_opt(peak, warm_steps, total):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm_steps),
         optim.cosine_decay(peak, total - warm_steps, 1e-5)],
        [warm_steps],
    )
    return optim.Adam(learning_rate=sched)


def run_stage(name, model, opt, steps, lam, start, log_every):
    def loss_fn(m, X, y, Xc):
        d = data_mse(m, X, y)
        p = phys_mse(m, Xc) if lam > 0 else mx.array(0.0)
        return d + lam * p, (d, p)

    vg = nn.value_and_grad(model, loss_fn)
    for s in range(start, steps + 1):
        idx = mx.array(rng.integers(0, len(Xtr), 256))
        lr_used = opt.learning_rate.item()
        (tot, (d, p)), g = vg(model, Xtr_m[idx], ytr_m[idx], colloc(128))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, tot)
        if s == start or s % log_every == 0:
            print(f"{name},{s},{lr_used:.2e},{tot.item():.4f},{d.item():.4f},"
                  f"{p.item():.4f},{val_rmse(model):.3f},{BASELINE:.3f}")


mx.random.seed(0)
print(f"# holes train={N_HOLES} val=12 depths/hole={N_DEPTH} units: degC, km, K/km^2")
print("stage,step,lr,total,data_mse_C2,phys_mse,val_rmse_C,linear_geotherm_rmse_C")
t0 = time.time()
model = ResidualNet()
opt = make_opt(3e-3, 60, 900)
run_stage("data", model, opt, 450, 0.0, 1, 75)

ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = val_rmse(model)
del model, opt

model = ResidualNet()
model.load_weights(os.path.join(ck, "w.safetensors"))
opt = make_opt(3e-3, 60, 900)
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "opt.safetensors")).items()))
after = val_rmse(model)
print(f"# resumed from checkpoint at step {opt.state['step'].item()}: val_rmse {before:.4f} -> {after:.4f}")

run_stage("physics", model, opt, 900, 0.05, 451, 75)
print(f"# done in {time.time() - t0:.1f}s; final val rmse {val_rmse(model):.3f} C vs linear geotherm {BASELINE:.3f} C")
