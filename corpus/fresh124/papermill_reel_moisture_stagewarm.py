"""Paper machine dryer section: predict sheet moisture at the reel (%).

Stage "clean" uses calm grade runs; stage "upset" adds grade changes with
felt wear and noisy steam readings (harder, so the loss jumps there first).
Each stage restarts its own step counter and its own warmup from lr = 0.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(124)


def make_runs(n, upset):
    steam = rng.uniform(2.0, 6.0, n)          # bar
    speed = rng.uniform(600, 1200, n)          # m/min
    basis = rng.uniform(45, 120, n)            # g/m2
    press_dry = rng.uniform(38, 50, n)         # % solids after press
    hood_rh = rng.uniform(20, 70, n)           # % hood humidity
    felt_age = rng.uniform(0, 1, n) * (1.0 if upset else 0.2)
    grade_chg = (rng.uniform(0, 1, n) < (0.35 if upset else 0.0)).astype(np.float64)
    load = basis * speed / 1000.0 * (100 - press_dry) / 55.0
    moist = (9.0 - 1.35 * steam + 0.045 * load + 0.03 * hood_rh
             + 1.6 * felt_age ** 2 + 1.2 * grade_chg * np.tanh(steam - 4.0)
             + 0.25 * np.sin(speed / 90.0))
    moist = moist + rng.normal(0, 0.25, n)
    steam_obs = steam + rng.normal(0, 0.35 if upset else 0.05, n)
    X = np.stack([steam_obs, speed, basis, press_dry, hood_rh, felt_age, grade_chg], 1)
    return X, moist


Xc, yc = make_runs(6000, upset=False)
Xu, yu = make_runs(6000, upset=True)
Xv, yv = make_runs(1500, upset=True)
mu, sd = Xc.mean(0), Xc.std(0) + 1e-6
sd[5:] = 1.0
mu[5:] = 0.0
ym, ys = yc.mean(), yc.std()


def prep(X, y):
    return (mx.array(((X - mu) / sd).astype(np.float32)),
            mx.array(((y - ym) / ys).astype(np.float32)))


Xc_t, yc_t = prep(Xc, yc)
Xu_t, yu_t = prep(Xu, yu)
Xv_t, yv_t = prep(Xv, yv)


class ReelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = ReelNet()


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)


def pct_rmse(x, y):
    return math.sqrt(loss_fn(model, x, y).item()) * ys   # back in % moisture


baseline = float(np.sqrt(np.mean((yv - yc.mean()) ** 2)))   # "predict the clean-run mean"
stages = [("clean", Xc_t, yc_t, 900, 3e-3), ("upset", Xu_t, yu_t, 1500, 2e-3)]
bs = 128
t0 = time.time()
print(f"{'stage':<6} {'step':>5} {'lr':>9} {'train%':>8} {'valid%':>8} {'ref%':>7}")
print("-" * 48)
checked = False
for name, Xs, ys_t, n_steps, peak in stages:
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, n_steps - warm, peak * 0.05)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    n = Xs.shape[0]
    for step in range(n_steps):
        idx = mx.array(rng.integers(0, n, bs))
        loss, grads = grad_fn(model, Xs[idx], ys_t[idx])
        if not checked:
            from mlx.utils import tree_flatten
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).sum().item() == 0]
            print(f"grad-check: {len(tree_flatten(grads))} tensors, zero-grad: {zero or 'none'}")
            checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == n_steps - 1:
            tr = math.sqrt(loss.item()) * ys
            print(f"{name:<6} {step:>5} {opt.learning_rate.item():>9.2e} "
                  f"{tr:>8.3f} {pct_rmse(Xv_t, yv_t):>8.3f} {baseline:>7.3f}")
    print("-" * 48)

final = pct_rmse(Xv_t, yv_t)
print(f"reel moisture RMSE on upset runs: {final:.3f} %  (mean-predictor {baseline:.3f} %)"
      f"  time {time.time() - t0:.1f}s")
