"""Javelin: predict throw distance (m) relative to the 80 m line from release data.

Synthetic throws. Each "series" is a warm restart of the
cosine schedule (SGDR); the step counter starts again at 0 every series.
The output head goes through a soft clip with a hand-written VJP.
Output: one JSON object per line.
"""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from functools import partial

rng = np.random.default_rng(2024)
mx.random.seed(2024)

LINE_M = 80.0


def simulate(n):
    speed = rng.normal(92.0, 1.6, n)          # km/h at release
    angle = rng.normal(10.5, 1.2, n)          # deg, release angle offset
    wind = rng.normal(0.0, 1.1, n)            # m/s, + = headwind
    timing = rng.normal(0.0, 1.0, n)          # block-leg timing error (z-score)
    grip = rng.integers(0, 3, n)              # grip style (American / Finnish / fork)
    steps = rng.integers(8, 16, n)            # run-up steps
    dist = (
        LINE_M
        + 3.1 * (speed - 92.0)
        + 2.2 * (angle - 10.5) - 0.6 * (angle - 10.5) ** 2
        + 4.5 * wind - 0.7 * wind * np.abs(wind)
        - 3.0 * timing ** 2 + 1.2 * timing
        + np.array([-1.5, 0.0, 2.0])[grip]
        + 0.4 * (steps - 12)
        + rng.normal(0.0, 1.8, n)
    )
    feats = np.stack(
        [(speed - 92.0) / 1.6, (angle - 10.5) / 1.2, wind / 1.1, timing,
         (steps - 12) / 2.3, grip == 0, grip == 1, grip == 2], axis=1
    ).astype(np.float32)
    return feats, (dist - LINE_M).astype(np.float32)


x_tr, y_tr = simulate(3000)
x_va, y_va = simulate(600)
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_va, Y_va = mx.array(x_va), mx.array(y_va)


@mx.custom_function
def softclip(x):
    # keep predictions within +-40 m of the 80 m line
    return 40.0 * mx.tanh(x / 40.0)


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals
    t = mx.tanh(x / 40.0)
    return cotangent * (1.0 - t * t)


class ThrowNet(nn.Module):
    def __init__(self, d_in=8, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return softclip(self.out(h).squeeze(-1))


model = ThrowNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=3.0, reduction="mean")


# quick check: every parameter gets a gradient at init
_, g0 = nn.value_and_grad(model, loss_fn)(model, X_tr[:256], Y_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_check", "n_tensors": len(tree_flatten(g0)), "zero_grad": zero}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


# baselines in metres, printed next to the model
baseline_const_mae = float(np.abs(y_va - np.median(y_tr)).mean())
A = np.c_[x_tr, np.ones(len(x_tr))]
coef, *_ = np.linalg.lstsq(A, y_tr, rcond=None)
baseline_lin_mae = float(np.abs(np.c_[x_va, np.ones(len(x_va))] @ coef - y_va).mean())

series_lens = [60, 120, 240]      # SGDR: each restart twice as long
peak_lr = [3e-2, 2e-2, 1e-2]
bs = 128
global_step = 0
for s, (T, lr_max) in enumerate(zip(series_lens, peak_lr), start=1):
    for t in range(T):
        lr = 0.5 * lr_max * (1 + math.cos(math.pi * t / T))
        if s == 1:
            lr = lr * min(1.0, t / 20.0)   # first series warms up from exactly 0
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, len(x_tr), bs))
        loss = step(X_tr[idx], Y_tr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        global_step += 1
        if t % 30 == 0 or t == T - 1:
            pred = model(X_va)
            mae = mx.abs(pred - Y_va).mean()
            within2 = (mx.abs(pred - Y_va) < 2.0).mean() * 100
            print(json.dumps({
                "series": s, "step": t, "global_step": global_step,
                "lr": round(lr, 6), "huber": round(loss.item(), 4),
                "val_mae_m": round(mae.item(), 3),
                "within_2m_pct": round(within2.item(), 1),
                "ref_const_mae_m": round(baseline_const_mae, 3),
                "ref_linear_mae_m": round(baseline_lin_mae, 3),
            }))

final = mx.abs(model(X_va) - Y_va).mean().item()
print(json.dumps({"event": "done", "series": len(series_lens), "steps": global_step,
                  "val_mae_m": round(final, 3), "noise_floor_m": 1.44}))
