"""Windrow composting: days until the core reaches 55 C (pathogen-kill window).

Stage "straw" trains on green-waste/straw windrows only; stage "foodwaste" then
adds food-waste windrows whose heating follows an extra moisture x C:N term.
Each stage restarts its step counter and warms the learning rate up from 0.
The hidden activation is a soft clip with a hand-written VJP.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(42)
mx.random.seed(42)

FEATS = ["c_to_n", "moisture_pct", "pile_height_m", "ambient_C", "days_since_turn", "bulking_frac"]


def make_windrows(n, food):
    cn = rng.uniform(18, 40, n)
    moist = rng.uniform(40, 70, n)
    height = rng.uniform(1.0, 2.8, n)
    amb = rng.uniform(-2, 28, n)
    turn = rng.uniform(0, 10, n)
    bulk = rng.uniform(0.1, 0.5, n)
    days = (2.5 + 0.09 * (cn - 25) ** 2 / 10 + 0.06 * np.abs(moist - 55)
            - 1.1 * (height - 1.8) - 0.08 * (amb - 12) + 0.15 * turn - 2.0 * (bulk - 0.3))
    if food:
        days = days + 0.004 * (moist - 55) * (cn - 28) + 0.8 * np.tanh((amb - 8) / 5)
    days = days + rng.normal(0, 0.25, n)
    X = np.stack([cn, moist, height, amb, turn, bulk], 1).astype(np.float32)
    return X, days.astype(np.float32)


Xs, ys = make_windrows(3000, False)
Xf, yf = make_windrows(3000, True)
Xs_va, ys_va = make_windrows(600, False)
Xf_va, yf_va = make_windrows(600, True)
mu, sd = Xs.mean(0), Xs.std(0)
norm = lambda X: mx.array((X - mu) / sd)


@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals  # single input arrives as the array itself
    t = mx.tanh(x / 3.0)
    return cotangent * (1.0 - t * t)


class ThermoNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = soft_clip(self.l1(x))
        h = soft_clip(self.l2(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def mae_days(model, X, y):
    return mx.abs(model(X) - y).mean().item()


model = ThermoNet(len(FEATS))
vg = nn.value_and_grad(model, mse)

# audit: the hand-written VJP must match plain autodiff of the same function
xa = mx.random.normal((257,)) * 4
g_custom = mx.grad(lambda v: soft_clip(v).sum())(xa)
g_ref = mx.grad(lambda v: (3.0 * mx.tanh(v / 3.0)).sum())(xa)
print(f"[audit] soft_clip vjp vs autodiff  max|diff|={mx.abs(g_custom - g_ref).max().item():.2e}")

STAGES = [
    ("straw", Xs, ys, 700),
    ("foodwaste", np.concatenate([Xs, Xf]), np.concatenate([ys, yf]), 900),
]
PEAK_LR, WARM, B = 3e-3, 150, 64
Xva_s, yva_s = norm(Xs_va), mx.array(ys_va)
Xva_f, yva_f = norm(Xf_va), mx.array(yf_va)
base_s = float(np.abs(ys_va - ys.mean()).mean())
base_f = float(np.abs(yf_va - yf.mean()).mean())
print(f"baseline MAE (predict train mean): straw {base_s:.3f} d | foodwaste {base_f:.3f} d")

t0 = time.time()
for name, X, y, steps in STAGES:
    opt = optim.Adamax(learning_rate=0.0)
    Xt, yt = norm(X), mx.array(y)
    n = Xt.shape[0]
    run = None
    for step in range(1, steps + 1):
        lr = PEAK_LR * min(1.0, (step - 1) / WARM) * (0.5 + 0.5 * math.cos(math.pi * max(0, step - WARM) / (steps - WARM + 1)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, B))
        loss, grads = vg(model, Xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if step % 100 == 0 or step == 1:
            done = int(20 * step / steps)
            bar = "#" * done + "." * (20 - done)
            el = time.time() - t0
            sys.stdout.write(f"{name:>9} |{bar}| {step:4d}/{steps} [{el:5.1f}s, lr={lr:.2e}, mse~{run:.4f}]\n")
    ms, mf = mae_days(model, Xva_s, yva_s), mae_days(model, Xva_f, yva_f)
    print(f"== end {name}: val MAE straw {ms:.3f} d (base {base_s:.3f})  foodwaste {mf:.3f} d (base {base_f:.3f})")

print(f"done in {time.time() - t0:.1f}s")
