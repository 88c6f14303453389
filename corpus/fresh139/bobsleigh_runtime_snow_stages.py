"""Bobsleigh run-time model: clean-ice heats first, then the snowy heats join in.

Each stage restarts its own epoch counter and warms Lion up from lr = 0.
The table shows run-time error in seconds next to the 'track-mean' baseline.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(2024)
TRACKS = np.array([[1.45, 16], [1.30, 14], [1.60, 19], [1.22, 15]])  # km, curves


def heats(n):
    track = rs.integers(0, 4, n)
    crew4 = rs.integers(0, 2, n)
    push = rs.normal(5.05, 0.12, n) - 0.12 * crew4
    mass = rs.normal(0.0, 1.0, n)
    ice_t = rs.uniform(-12, -2, n)
    snow = (rs.random(n) < 0.35).astype(np.float64)
    km, curves = TRACKS[track, 0], TRACKS[track, 1]
    t = (34.0 * km + 0.45 * curves - 0.35 * mass + 2.6 * (push - 5.0)
         - 0.9 * crew4 + 0.05 * (ice_t + 7) ** 2 * 0.2)
    t = t + snow * (0.9 + 0.08 * curves * (1.0 + 0.3 * mass) - 0.04 * ice_t)
    t = t + rs.normal(0, 0.06 + 0.10 * snow, n)
    x = np.column_stack([np.eye(4)[track], crew4, (push - 5.0) / 0.15, mass,
                         (ice_t + 7) / 3.0, snow])
    return x.astype(np.float32), t.astype(np.float32), snow.astype(bool), track


x_tr, t_tr, snow_tr, trk_tr = heats(6000)
x_va, t_va, snow_va, trk_va = heats(1500)
T_MU, T_SD = float(t_tr.mean()), float(t_tr.std())
track_mean = np.array([t_tr[trk_tr == k].mean() for k in range(4)])
base_mae = float(np.abs(track_mean[trk_va] - t_va).mean())


class RunTime(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


mx.random.seed(11)
model = RunTime()
opt = optim.Lion(learning_rate=0.0, weight_decay=0.05)
state = [model.state, opt.state]


@mx.compile
def compiled_step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss


step = mx.compile(compiled_step, inputs=state, outputs=state)

g0 = nn.value_and_grad(model, mse)(model, mx.array(x_tr[:256]), mx.array((t_tr[:256] - T_MU) / T_SD))[1]
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad check: {len(tree_flatten(g0))} tensors, zero-gradient: {dead or 'none'}")

xv, yv = mx.array(x_va), mx.array((t_va - T_MU) / T_SD)
print(f"{'stage':<8}|{'ep':>3} |{'lr':>9} |{'train mse':>10} |{'val MAE s':>10} |{'snow MAE s':>11} |{'track-mean MAE s':>17}")
print("-" * 80)
stages = [("clean", ~snow_tr, 10, 1.5e-3), ("snowy", np.ones_like(snow_tr), 12, 8e-4)]
BS = 128
for name, keep, epochs, peak in stages:
    xs, ys = x_tr[keep], (t_tr[keep] - T_MU) / T_SD
    n_batches = len(xs) // BS
    total, warm, k = epochs * n_batches, n_batches * 2, 0
    for ep in range(1, epochs + 1):
        perm = rs.permutation(len(xs))
        run = 0.0
        for b in range(n_batches):
            lr = peak * k / warm if k < warm else peak * 0.5 * (1 + math.cos(math.pi * (k - warm) / (total - warm)))
            opt.learning_rate = lr
            idx = perm[b * BS:(b + 1) * BS]
            loss = step(mx.array(xs[idx]), mx.array(ys[idx]))
            mx.eval(state, loss)
            run += loss.item()
            k += 1
        pred = np.array(model(xv)) * T_SD + T_MU
        err = np.abs(pred - t_va)
        print(f"{name:<8}|{ep:>3} |{lr:>9.2e} |{run / n_batches:>10.4f} |{err.mean():>10.3f} |"
              f"{err[snow_va].mean():>11.3f} |{base_mae:>17.3f}")
    print("-" * 80)
pred = np.array(model(xv)) * T_SD + T_MU
print(f"final: val MAE {np.abs(pred - t_va).mean():.3f} s vs track-mean {base_mae:.3f} s")
