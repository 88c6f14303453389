"""E-rickshaw fleet: predict battery state-of-charge drop (%) per trip.

Cosine schedule with warm restarts (each cycle ramps up from lr = 0),
compiled train step, JSON-lines log with a least-squares baseline beside.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(2203)


def make_trips(n):
    dist_km = rs.uniform(0.5, 9.0, n)
    load_kg = rs.uniform(60, 320, n)          # rider + passengers
    grade = rs.normal(0.0, 2.0, n)            # mean route gradient, %
    temp_c = rs.uniform(8, 44, n)
    cycles = rs.uniform(0, 900, n)            # battery charge cycles so far
    stops = rs.poisson(4, n).astype(np.float64)
    wh_per_km = 22 + 0.09 * load_kg + 6.5 * np.maximum(grade, 0) * (load_kg / 200) ** 1.3
    wh = dist_km * wh_per_km + 9 * stops * (load_kg / 200)
    cap_wh = 2600 * (1 - 0.00045 * cycles) * (1 - 0.006 * np.maximum(18 - temp_c, 0))
    drop_pct = 100 * wh / cap_wh
    drop_pct = drop_pct * np.exp(rs.normal(0, 0.05, n))
    X = np.stack([dist_km, load_kg, grade, temp_c, cycles, stops], 1)
    return X.astype(np.float32), drop_pct.astype(np.float32)


Xtr, ytr = make_trips(6000)
Xva, yva = make_trips(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd

# closed-form linear baseline (what the depot spreadsheet does)
A = np.c_[Xtr, np.ones(len(Xtr))]
w_ls, *_ = np.linalg.lstsq(A, ytr, rcond=None)
base_mae = float(np.abs(np.c_[Xva, np.ones(len(Xva))] @ w_ls - yva).mean())

y_scale = float(ytr.std())
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr / y_scale)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


class SocNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = nn.gelu(self.hid(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(2203)
model = SocNet()
opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# one-off audit: every layer should receive gradient
_, g0 = loss_and_grad(model, Xtr_m[:256], ytr_m[:256])
audit = {k: round(float(mx.sqrt(mx.sum(v * v))), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "norms": audit}))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    pred = model(Xva_m) * y_scale
    err = mx.abs(pred - yva_m)
    return float(err.mean()), float((err < 1.0).mean()) * 100


PEAK, WARM, CYCLE, CYCLES, BS = 4e-3, 25, 300, 3, 128
n = Xtr_m.shape[0]
t0 = time.time()
step = 0
for cyc in range(CYCLES):
    peak = PEAK * (0.7 ** cyc)
    run = 0.0
    for s in range(CYCLE):
        if s < WARM:
            lr = peak * s / WARM            # starts at exactly 0.0
        else:
            lr = 0.5 * peak * (1 + math.cos(math.pi * (s - WARM) / (CYCLE - WARM)))
        opt.learning_rate = lr
        idx = mx.array(rs.integers(0, n, BS))
        loss = train_step(Xtr_m[idx], ytr_m[idx])
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        step += 1
        if (s + 1) % 50 == 0:
            mae, within = evaluate()
            print(json.dumps({"cycle": cyc, "it": s + 1, "lr": round(lr, 6),
                              "huber": round(run / 50, 5), "soc_mae_pct": round(mae, 3),
                              "within_1pct": round(within, 1), "ls_baseline_mae_pct": round(base_mae, 3)}))
            run = 0.0
    mae, within = evaluate()
    print(json.dumps({"event": "restart" if cyc < CYCLES - 1 else "final", "cycle": cyc,
                      "soc_mae_pct": round(mae, 3), "within_1pct": round(within, 1),
                      "elapsed_s": round(time.time() - t0, 2)}))
