"""Timpani head tuning: predict how far (in cents) a drum sits from its target pitch
after the tension rods are turned, from rod turns, head temperature, relative humidity
and head age. Trained in two stages: a climate-controlled hall first, then touring
venues where humidity swings make the task harder. Each stage warms the learning rate
up from exactly zero. One JSON object per log line."""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = random.Random(2024)


def drum_reading(touring):
    turns = [rng.uniform(-0.5, 0.5) for _ in range(6)]  # six rods, fraction of a turn
    temp = rng.gauss(21.0, 1.0 if not touring else 5.0)
    rh = rng.gauss(45.0, 3.0 if not touring else 18.0)
    age = rng.uniform(0, 3)  # years
    cents = 38.0 * sum(turns) / 6 * 6 - 1.8 * (temp - 21.0) - 0.9 * (rh - 45.0) \
        + 0.012 * (rh - 45.0) ** 2 - 4.0 * age + 6.0 * turns[0] * turns[3] * 10
    cents += rng.gauss(0, 1.5)
    feats = turns + [(temp - 21.0) / 5.0, (rh - 45.0) / 20.0, age - 1.5]
    return feats, cents / 25.0  # target in units of quarter-semitones


def make_set(n, touring):
    rows = [drum_reading(touring) for _ in range(n)]
    return mx.array([r[0] for r in rows]), mx.array([r[1] for r in rows])


class TuneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(9, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


mx.random.seed(11)
model = TuneNet()
stages = [
    {"name": "hall", "touring": False, "steps": 300, "peak_lr": 3e-4},
    {"name": "touring", "touring": True, "steps": 500, "peak_lr": 2e-4},
]
loss_and_grad = nn.value_and_grad(model, mse)
gstep = 0
for st in stages:
    x_tr, y_tr = make_set(1536, st["touring"])
    x_va, y_va = make_set(384, st["touring"])
    base = mx.mean((y_va - mx.mean(y_tr)) ** 2).item()  # predict-the-mean baseline
    warm = 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak_lr"], warm),
         optim.cosine_decay(st["peak_lr"], st["steps"] - warm, 1e-6)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    checked = False
    for step in range(st["steps"]):
        idx = mx.array(rng.sample(range(1536), 96))
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        if not checked:
            zero = [k for k, g in tree_flatten(grads) if mx.all(g == 0).item()]
            print(json.dumps({"stage": st["name"], "event": "grad_check", "zero_grad_tensors": zero}))
            checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        gstep += 1
        if step % 50 == 0 or step == st["steps"] - 1:
            val = mse(model, x_va, y_va).item()
            print(json.dumps({
                "stage": st["name"], "step": step, "global_step": gstep,
                "lr": round(float(opt.learning_rate.item()), 7),
                "train_mse": round(loss.item(), 4), "val_mse": round(val, 4),
                "mean_baseline_mse": round(base, 4),
                "val_rmse_cents": round(math.sqrt(val) * 25.0, 2),
            }))
print(json.dumps({"event": "done", "total_steps": gstep}))
