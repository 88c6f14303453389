"""Dandelion seed (pappus) drift predictor.

Predicts east/north drift (m/s) of a tagged dandelion seed from the release
log (lift height in the updraft, air temperature, humidity, pressure gradient,
hour).  Curriculum: stage "low" only sees seeds lifted below 1 km, stage
"full" adds the seeds carried high (wind veers and strengthens aloft), so the
error on the whole height range jumps when that stage starts, then comes down.
Hand-written heavy-ball SGD inside an mx.compile'd step, lr warmup from 0.
"""
import math
import mlx.core as mx
import numpy as np

rng = np.random.default_rng(7)


def make_releases(n, alt_max):
    alt = rng.uniform(0.0, alt_max, n)                 # km
    temp = 15.0 - 6.5 * alt + rng.normal(0, 1.5, n)    # deg C
    humid = rng.uniform(0.0, 1.0, n)                   # relative humidity
    gx = rng.normal(0, 1.0, n)                         # pressure gradient
    gy = rng.normal(0, 1.0, n)
    hour = rng.uniform(6, 20, n)
    speed = 2.5 + 4.0 * alt + 0.8 * np.sin(2 * np.pi * hour / 24)
    veer = 0.3 + 0.7 * alt                             # rad
    east = speed * np.cos(veer) + 1.5 * gx - 0.4 * humid
    north = speed * np.sin(veer) + 1.5 * gy + 0.3 * temp / 10
    X = np.stack([alt, temp / 10, humid, gx, gy,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)], 1)
    Y = np.stack([east, north], 1) + rng.normal(0, 0.3, (n, 2))
    return mx.array(X.astype(np.float32)), mx.array(Y.astype(np.float32))


Xlow, Ylow = make_releases(3000, 1.0)
Xhigh, Yhigh = make_releases(3000, 3.0)
Xv_low, Yv_low = make_releases(600, 1.0)
Xv_all, Yv_all = make_releases(600, 3.0)


def init(sizes):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"W{i}"] = mx.random.normal((a, b)) * math.sqrt(1.0 / a)
        p[f"b{i}"] = mx.zeros((b,))
    return p


mx.random.seed(3)
params = init([7, 64, 64, 2])
vel = {k: mx.zeros_like(v) for k, v in params.items()}


def forward(p, x):
    h = mx.tanh(x @ p["W0"] + p["b0"])
    h = mx.tanh(h @ p["W1"] + p["b1"])
    return h @ p["W2"] + p["b2"]


def mse(p, x, y):
    return mx.mean(mx.sum((forward(p, x) - y) ** 2, axis=1))


grad_fn = mx.value_and_grad(mse)


@mx.compile
def step(p, v, x, y, lr):
    loss, g = grad_fn(p, x, y)
    v = {k: 0.9 * v[k] + g[k] for k in p}
    p = {k: p[k] - lr * v[k] for k in p}
    return p, v, loss


# grad audit before training
_, g0 = grad_fn(params, Xlow[:256], Ylow[:256])
print("grad audit:", "  ".join(f"{k}={mx.linalg.norm(g0[k]).item():.3e}" for k in sorted(g0)))

base_low = mx.mean(mx.sum((Yv_low - mx.mean(Ylow, 0)) ** 2, 1)).item()
base_all = mx.mean(mx.sum((Yv_all - mx.mean(Ylow, 0)) ** 2, 1)).item()

stages = [("low", Xlow, Ylow, 1200), ("full", mx.concatenate([Xlow, Xhigh]), mx.concatenate([Ylow, Yhigh]), 1800)]
peak_lr, warm = 0.01, 200
bs = 128
gstep = 0
print(f"{'step':>5} {'stage':>5} {'lr':>8} | {'train':>8} {'val<1km':>8} {'val<3km':>8} | {'ref<1km':>8} {'ref<3km':>8}   [(m/s)^2]")
for name, X, Y, nsteps in stages:
    n = X.shape[0]
    run = 0.0
    for s in range(nsteps):
        lr_val = peak_lr * min(1.0, gstep / warm) if gstep < 2000 else peak_lr * 0.3
        idx = mx.array(rng.integers(0, n, bs))
        params, vel, loss = step(params, vel, X[idx], Y[idx], mx.array(lr_val))
        mx.eval(params, vel, loss)
        run = 0.9 * run + 0.1 * loss.item() if s else loss.item()
        if s % 200 == 0 or s == nsteps - 1:
            vl = mse(params, Xv_low, Yv_low).item()
            va = mse(params, Xv_all, Yv_all).item()
            print(f"{gstep:>5} {name:>5} {lr_val:>8.5f} | {run:>8.4f} {vl:>8.4f} {va:>8.4f} | {base_low:>8.4f} {base_all:>8.4f}")
        gstep += 1

final_low = mse(params, Xv_low, Yv_low).item()
final_all = mse(params, Xv_all, Yv_all).item()
print(f"done: val<1km {final_low:.4f} vs ref {base_low:.4f} ({100*final_low/base_low:.1f}%), "
      f"val<3km {final_all:.4f} vs ref {base_all:.4f} ({100*final_all/base_all:.1f}%)")
