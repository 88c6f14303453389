"""Tumble-dryer cycle planner: how many minutes are left in a drying cycle?

Synthetic appliance log: 8 readings taken 5 minutes into a cycle, target is the
remaining minutes until the humidity sensor says "dry".  Small SiLU MLP, Adamax,
learning rate that starts at exactly 0 (linear warmup) and then runs three cosine
cycles with warm restarts (SGDR) glued together with optim.join_schedules.
Progress is written as JSON lines; the naive "predict the mean" baseline is
printed beside the model so you can see how much better it does.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(2170)


def make_loads(n):
    kg = rng.uniform(1.0, 8.0, n)                 # load mass
    cotton = rng.uniform(0.0, 1.0, n)             # cotton share of the load
    moist0 = rng.uniform(35.0, 75.0, n)           # initial moisture %
    spin = rng.choice([800, 1000, 1200, 1400, 1600], n).astype(np.float64)
    inlet_c = rng.uniform(55.0, 75.0, n)          # inlet air temperature
    rh_slope = rng.normal(-1.2, 0.35, n)          # exhaust RH slope at 5 min (%/min)
    lint = rng.uniform(0.0, 1.0, n)               # lint filter clogging
    room_rh = rng.uniform(30.0, 80.0, n)          # utility room humidity
    water_kg = kg * moist0 / 100.0 * (1.25 - spin / 2000.0)
    minutes = (
        14.0
        + 9.5 * water_kg * (0.7 + 0.6 * cotton)
        * (70.0 / inlet_c) ** 1.3
        * (1.0 + 0.45 * lint ** 2)
        + 6.0 * np.tanh(-(rh_slope + 1.2) * 2.0)
        + 0.08 * (room_rh - 55.0)
        + rng.normal(0.0, 2.0, n)
    )
    X = np.stack([kg, cotton, moist0, spin, inlet_c, rh_slope, lint, room_rh], 1)
    return X.astype(np.float32), minutes.astype(np.float32)


Xtr, ytr = make_loads(4000)
Xva, yva = make_loads(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
SCALE = 10.0  # train on tens of minutes
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr / SCALE)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
baseline_mae = float(np.abs(yva - ytr.mean()).mean())


class Planner(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = Planner()
mx.eval(model.parameters())

PEAK = 3e-3
WARM = 60
CYCLE = 150
schedule = optim.join_schedules(
    [
        optim.linear_schedule(0.0, PEAK, WARM),
        optim.cosine_decay(PEAK, CYCLE, 1e-4),
        optim.cosine_decay(PEAK, CYCLE, 1e-4),
        optim.cosine_decay(0.6 * PEAK, CYCLE, 5e-5),
    ],
    [WARM, WARM + CYCLE, WARM + 2 * CYCLE],
)
opt = optim.Adamax(learning_rate=schedule)
TOTAL = WARM + 3 * CYCLE


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, grads)
    return loss


def val_mae():
    pred = model(Xva_m) * SCALE
    return float(mx.abs(pred - yva_m).mean())


t0 = time.time()
print(json.dumps({"event": "start", "n_train": 4000, "n_val": 800,
                  "steps": TOTAL, "baseline_mae_min": round(baseline_mae, 3)}))
run_loss, run_n = 0.0, 0
B = 64
order = rng.permutation(4000)
pos = 0
for step in range(TOTAL):
    if pos + B > 4000:
        order = rng.permutation(4000)
        pos = 0
    idx = mx.array(order[pos:pos + B])
    pos += B
    lr_now = float(opt.learning_rate)
    loss = train_step(Xtr_m[idx], ytr_m[idx])
    mx.eval(loss, model.parameters(), opt.state)
    run_loss += loss.item()
    run_n += 1
    boundary = step + 1 in (WARM, WARM + CYCLE, WARM + 2 * CYCLE, TOTAL)
    if (step + 1) % 30 == 0 or boundary or step == 0:
        rec = {
            "step": step + 1,
            "lr": float(f"{lr_now:.3e}"),
            "train_mse_x100": round(100.0 * run_loss / run_n, 3),
            "val_mae_min": round(val_mae(), 3),
            "baseline_mae_min": round(baseline_mae, 3),
        }
        if boundary:
            rec["note"] = "cycle end" if step + 1 > WARM else "warmup end"
        print(json.dumps(rec))
        run_loss, run_n = 0.0, 0

final = val_mae()
print(json.dumps({"event": "done", "val_mae_min": round(final, 3),
                  "baseline_mae_min": round(baseline_mae, 3),
                  "improvement_pct": round(100.0 * (1 - final / baseline_mae), 1),
                  "wall_s": round(time.time() - t0, 2)}))
