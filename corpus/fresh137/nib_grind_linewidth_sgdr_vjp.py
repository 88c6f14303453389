# Nib-grinding bench notes: predict the written line width (micrometres) of a
# fountain pen from how the nib was ground and how it is being used.
# Small MLP with a hand-written softsign activation (custom VJP), RMSprop,
# cosine warm restarts (SGDR, cycles of 4 then 8 then 16 epochs).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(20260611)

GRADES = ["EF", "F", "M", "B"]
BASE_UM = np.array([260.0, 340.0, 430.0, 590.0])


def make_nibs(n):
    grade = rng.integers(0, 4, n)
    tine_gap = rng.gamma(3.0, 9.0, n)            # um
    pressure = rng.uniform(20, 180, n)            # grams on the nib
    sizing = rng.beta(2.5, 2.0, n)                # paper sizing 0..1
    viscosity = rng.lognormal(0.2, 0.35, n)       # cP
    speed = rng.uniform(2, 14, n)                 # cm/s
    feed = rng.uniform(0.3, 1.0, n)               # feed flow fraction
    flex = rng.binomial(1, 0.25, n)               # flex nib
    width = (BASE_UM[grade]
             + 1.1 * tine_gap * feed
             + (0.6 + 1.9 * flex) * pressure * (1.15 - sizing)
             - 14.0 * np.log(viscosity) * (1.0 - sizing)
             - 32.0 * np.sqrt(speed) * (1.0 - feed)
             + rng.normal(0, 14.0, n))
    onehot = np.eye(4)[grade]
    X = np.column_stack([onehot, tine_gap, pressure, sizing, np.log(viscosity),
                         speed, feed, flex]).astype(np.float32)
    return X, width.astype(np.float32)


X_tr, y_tr = make_nibs(7000)
X_va, y_va = make_nibs(1500)
mu, sd = X_tr.mean(0), X_tr.std(0) + 1e-6
mu[:4], sd[:4] = 0.0, 1.0                      # keep the grade one-hot as is
X_tr, X_va = (X_tr - mu) / sd, (X_va - mu) / sd
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
Xt, Yt = mx.array(X_tr), mx.array((y_tr - y_mu) / y_sd)
Xv = mx.array(X_va)
mean_guess_mae = float(np.abs(y_va - y_mu).mean())


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals                      # single positional input
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


class NibNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = softsign(self.l1(x))
        h = softsign(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


# audit: the hand-written VJP against autodiff of the same formula
probe = mx.random.normal((257,), key=mx.random.key(3)) * 3
g_custom = mx.grad(lambda z: softsign(z).sum())(probe)
g_auto = mx.grad(lambda z: (z / (1.0 + mx.abs(z))).sum())(probe)
print(f"vjp audit: max|custom-auto| = {mx.abs(g_custom - g_auto).max().item():.2e}")

mx.random.seed(11)
model = NibNet(X_tr.shape[1])
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
loss_and_grad = nn.value_and_grad(model, mse)

# every trainable tensor must receive gradient
_, g0 = loss_and_grad(model, Xt[:256], Yt[:256])
dead = [k for k, g in tree_flatten(g0) if mx.abs(g).sum().item() == 0.0]
print("grad audit:", "all", len(tree_flatten(g0)), "tensors non-zero" if not dead else f"ZERO in {dead}")

LR_MAX, LR_MIN = 3e-3, 5e-5
cycles = [4, 8, 16]
batch = 128
n = Xt.shape[0]
steps_per_epoch = n // batch
bar_w = 20
t0 = time.perf_counter()
best_mae = float("inf")
for ci, T in enumerate(cycles, 1):
    for e in range(T):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for s in range(steps_per_epoch):
            frac = (e + s / steps_per_epoch) / T
            opt.learning_rate = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * frac))
            idx = perm[s * batch:(s + 1) * batch]
            loss, grads = loss_and_grad(model, Xt[idx], Yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        pred = model(Xv) * y_sd + y_mu
        mae = float(np.abs(np.array(pred) - y_va).mean())
        best_mae = min(best_mae, mae)
        filled = int(bar_w * (e + 1) / T)
        bar = "#" * filled + "." * (bar_w - filled)
        print(f"cycle {ci}/{len(cycles)} {e + 1:2d}/{T:<2d} |{bar}| "
              f"lr={float(opt.learning_rate.item()):.2e} mse(z)={run / steps_per_epoch:.4f} "
              f"val MAE {mae:6.1f} um  [mean-guess {mean_guess_mae:.1f} um]  "
              f"{time.perf_counter() - t0:4.1f}s")
    if ci < len(cycles):
        print(f"-- warm restart after cycle {ci}: lr back to {LR_MAX:.0e}")

print(f"done: best val MAE {best_mae:.1f} um vs mean-guess {mean_guess_mae:.1f} um "
      f"({100 * (1 - best_mae / mean_guess_mae):.1f}% lower)")
