"""Surrogate for a projectile with quadratic air drag.

Inputs (speed, launch angle, drag coefficient) -> (range, flight time), both
from a vectorised semi-implicit Euler simulation. Plain MLP, hand-written SGD
with heavy-ball momentum plus a Polyak (EMA) copy of the weights that is used
for evaluation. Quiet while training; at the end prints an ASCII histogram of
the relative range error of the averaged weights.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

G = 9.81
rng = np.random.default_rng(5)
mx.random.seed(5)


def simulate(v0, ang, k, dt=0.004):
    x = np.zeros_like(v0); y = np.zeros_like(v0)
    vx = v0 * np.cos(ang); vy = v0 * np.sin(ang)
    t = np.zeros_like(v0); alive = np.ones_like(v0, dtype=bool)
    rng_out = np.zeros_like(v0); t_out = np.zeros_like(v0)
    for _ in range(6000):
        sp = np.sqrt(vx * vx + vy * vy)
        vx = vx - dt * k * sp * vx
        vy = vy - dt * (G + k * sp * vy)
        xn, yn = x + dt * vx, y + dt * vy
        landed = alive & (yn < 0)
        frac = np.where(landed, y / np.maximum(y - yn, 1e-12), 0.0)
        rng_out = np.where(landed, x + frac * (xn - x), rng_out)
        t_out = np.where(landed, t + frac * dt, t_out)
        alive &= ~landed
        x, y, t = xn, yn, t + dt
        if not alive.any():
            break
    return rng_out, t_out


def make(n):
    v0 = rng.uniform(10, 40, n); ang = rng.uniform(0.2, 1.3, n); k = rng.uniform(0.0, 0.05, n)
    r, t = simulate(v0, ang, k)
    X = np.stack([(v0 - 25) / 9, (ang - 0.75) / 0.32, (k - 0.025) / 0.0145], 1)
    Y = np.stack([r / 40.0, t / 4.0], 1)
    return mx.array(X.astype(np.float32)), mx.array(Y.astype(np.float32)), r


Xtr, Ytr, _ = make(6000)
Xte, Yte, r_te = make(1500)

model = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean(mx.square(m(x) - y))


vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Xtr[:128], Ytr[:128])
assert all(mx.abs(v).max().item() > 0 for _, v in tree_flatten(g0)), "dead leaf"

lr, beta, ema_decay = 0.05, 0.9, 0.995
vel = tree_map(mx.zeros_like, model.trainable_parameters())
ema = tree_map(lambda p: p, model.trainable_parameters())
losses = []
t0 = time.perf_counter()
for epoch in range(40):
    order = rng.permutation(Xtr.shape[0])
    for s in range(0, len(order), 64):
        idx = mx.array(order[s:s + 64])
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        vel = tree_map(lambda v, gi: beta * v + gi, vel, g)
        model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), vel))
        ema = tree_map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, ema, model.trainable_parameters())
        mx.eval(model.parameters(), vel, ema, loss)
        losses.append(loss.item())

raw_mse = loss_fn(model, Xte, Yte).item()
live = model.trainable_parameters()
model.update(ema)
ema_mse = loss_fn(model, Xte, Yte).item()
pred_r = np.array(model(Xte)[:, 0]) * 40.0
model.update(live)
rel = np.abs(pred_r - r_te) / np.maximum(r_te, 1.0)
base_mse = mx.mean(mx.square(Yte - Ytr.mean(axis=0))).item()

print(f"{len(losses)} SGD steps in {time.perf_counter() - t0:.1f}s; "
      f"train mse first epoch {np.mean(losses[:94]):.5f} -> last epoch {np.mean(losses[-94:]):.5f}")
print(f"test mse: live weights {raw_mse:.6f}, polyak weights {ema_mse:.6f}, predict-mean {base_mse:.5f}")
print("relative range error of polyak weights:")
edges = [0, 0.005, 0.01, 0.02, 0.05, 0.1, np.inf]
counts, _ = np.histogram(rel, bins=edges)
for lo, hi, c in zip(edges[:-1], edges[1:], counts):
    label = f"{lo*100:4.1f}%-{'inf' if hi == np.inf else f'{hi*100:.1f}%':>5}"
    print(f"  {label} | {'#' * int(round(60 * c / len(rel)))} {c}")
