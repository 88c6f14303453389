"""Oak parquet floor survey: predict board cupping (mm) a month after laying.

Stage 1 trains on the easy, dry-season boards only; stage 2 adds the wet
basements and underfloor-heated rooms, which are much harder, so the train
loss steps up at the stage change before it comes down again.
"""
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(41)


def make_boards(n, hard):
    thick = rng.uniform(10, 22, n)            # mm
    width = rng.uniform(50, 140, n)           # mm
    mc_board = rng.uniform(7, 12, n)          # % moisture at laying
    if hard:
        rh = rng.uniform(35, 90, n)           # % room humidity
        heat = rng.integers(0, 2, n)          # underfloor heating
    else:
        rh = rng.uniform(40, 60, n)
        heat = np.zeros(n, dtype=np.int64)
    glue = rng.uniform(0, 1, n)               # glue coverage fraction
    emc = 0.12 * rh - 0.9 * heat * 2.5       # made-up equilibrium moisture
    gap = emc - mc_board
    cup = (0.045 * width / thick) * gap * (1.0 - 0.4 * glue)
    cup = cup + 0.25 * heat * np.tanh(gap) * width / 100.0
    cup = cup + rng.normal(0, 0.08, n)
    X = np.stack([(thick - 16) / 3.5, (width - 95) / 26, (mc_board - 9.5) / 1.45,
                  (rh - 60) / 15, heat * 1.0, (glue - 0.5) / 0.29], axis=1)
    return X.astype(np.float32), cup.astype(np.float32)[:, None]


Xe, ye = make_boards(3000, hard=False)
Xh, yh = make_boards(3000, hard=True)
Xv, yv = make_boards(800, hard=True)
Xe, ye, Xh, yh = map(mx.array, (Xe, ye, Xh, yh))
Xv, yv = mx.array(Xv), mx.array(yv)
baseline_mse = float(mx.mean((yv - mx.mean(yh)) ** 2).item())


@mx.custom_function
def logcosh(r):
    return mx.logaddexp(r, -r) - math.log(2.0)


@logcosh.vjp
def logcosh_vjp(r, cotangent, output):
    # d/dr log cosh r = tanh r
    return (cotangent * mx.tanh(r),)


class CupNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.head(h)


mx.random.seed(3)
model = CupNet()
warm = optim.linear_schedule(0.0, 4e-3, 80)
decay = optim.cosine_decay(4e-3, 620, 2e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [80]),
                  weight_decay=1e-4)


def loss_fn(m, x, y):
    return mx.mean(logcosh(4.0 * (m(x) - y))) / 4.0


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# gradient audit before training: every weight must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xe[:256], ye[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max().item()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)),
                  "zero_grad": zero}))

t0 = time.time()
B = 128
step = 0
for stage, (X, Y, n_steps) in enumerate([(Xe, ye, 250), (mx.concatenate([Xe, Xh]),
                                           mx.concatenate([ye, yh]), 450)], start=1):
    run = 0.0
    for i in range(n_steps):
        idx = mx.array(rng.integers(0, X.shape[0], B))
        loss = train_step(X[idx], Y[idx])
        mx.eval(state)
        run += loss.item()
        step += 1
        if step % 50 == 0:
            pv = model(Xv)
            vmse = float(mx.mean((pv - yv) ** 2).item())
            mae = float(mx.mean(mx.abs(pv - yv)).item())
            print(json.dumps({"stage": stage, "step": step,
                              "lr": round(float(opt.learning_rate.item()), 6),
                              "train_logcosh": round(run / 50, 5),
                              "val_mse_mm2": round(vmse, 5),
                              "val_mae_mm": round(mae, 4),
                              "ref_mean_mse_mm2": round(baseline_mse, 5),
                              "r2_pct": round(100 * (1 - vmse / baseline_mse), 2)}))
            run = 0.0

pv = model(Xv)
vmse = float(mx.mean((pv - yv) ** 2).item())
print(json.dumps({"event": "done", "steps": step, "seconds": round(time.time() - t0, 2),
                  "val_mse_mm2": round(vmse, 5), "ref_mean_mse_mm2": round(baseline_mse, 5)}))
