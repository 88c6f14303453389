"""Yo-yo sleep time regression.

Predict how long (seconds) a yo-yo keeps spinning at the end of the string
("sleep time") from a throw log. Data is synthetic: a made-up law of throw
speed, bearing type, string state, mass and gap width plus noise.

Schedule: linear warmup from exactly 0, then cosine cycles with warm
restarts (SGDR). Adamax, compiled train step. Prints one JSON object per
epoch; the epoch counter starts again at 1 in every cycle.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)


def make_throws(n):
    speed = rng.uniform(2.0, 9.0, n)            # m/s at release
    mass = rng.uniform(50.0, 75.0, n)           # grams
    gap = rng.uniform(3.0, 5.5, n)              # mm
    twist = rng.uniform(-1.0, 1.0, n)           # string over/under-twist
    lube = rng.uniform(0.0, 1.0, n)             # bearing lube freshness
    bearing = rng.integers(0, 3, n)             # 0 sleeve, 1 ball, 2 concave
    wear = rng.uniform(0.0, 1.0, n)             # string wear
    base = np.array([2.0, 7.0, 10.0])[bearing]
    sleep = (base * (speed / 6.0) ** 1.4 * (mass / 62.0) ** 0.8
             * (1.0 + 0.25 * lube) * np.exp(-0.9 * twist ** 2)
             - 1.2 * wear * (gap - 3.0) + 0.8 * np.sin(2.0 * speed))
    sleep = np.clip(sleep, 0.2, None) + rng.normal(0.0, 0.6, n)
    onehot = np.eye(3)[bearing]
    x = np.column_stack([speed, mass, gap, twist, lube, wear, onehot])
    return x.astype(np.float32), sleep.astype(np.float32)


x_tr, y_tr = make_throws(14000)
x_va, y_va = make_throws(1500)
mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
x_tr = (x_tr - mu) / sd
x_va = (x_va - mu) / sd
x_tr, y_tr, x_va, y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))
baseline_rmse = float(np.sqrt(np.mean((np.array(y_va) - float(np.array(y_tr).mean())) ** 2)))


class SleepNet(nn.Module):
    def __init__(self, d_in=9, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x)) + x
        return self.out(x).squeeze(-1)


mx.random.seed(7)
model = SleepNet()
BATCH = 128
STEPS_PER_EPOCH = x_tr.shape[0] // BATCH
WARM_EPOCHS, CYCLES, EPOCHS_PER_CYCLE = 1, 3, 5
PEAK, FLOOR = 4e-3, 2e-5
warm_steps = WARM_EPOCHS * STEPS_PER_EPOCH
cycle_steps = EPOCHS_PER_CYCLE * STEPS_PER_EPOCH


def lr_at(step):
    if step < warm_steps:
        return PEAK * step / warm_steps          # step 0 -> lr exactly 0.0
    t = (step - warm_steps) % cycle_steps
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1.0 + math.cos(math.pi * t / cycle_steps))


opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)


# all trainable parameters must get a gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, x_tr[:256], y_tr[:256])
for name, g in tree_flatten(g0):
    assert float(mx.abs(g).sum()) > 0.0, name

state = [model.state, opt.state]


def _step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


step_fn = mx.compile(_step, inputs=state, outputs=state)


def val_rmse():
    return math.sqrt(float(nn.losses.mse_loss(model(x_va), y_va)))


t0 = time.time()
gstep = 0
schedule = [("warmup", 1, WARM_EPOCHS)] + [("sgdr", c + 1, EPOCHS_PER_CYCLE) for c in range(CYCLES)]
for phase, cycle, n_ep in schedule:
    for ep in range(1, n_ep + 1):
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        tot, lr_first = 0.0, None
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            lr = lr_at(gstep)
            lr_first = lr if lr_first is None else lr_first
            opt.learning_rate = lr
            loss = step_fn(x_tr[idx], y_tr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss)
            gstep += 1
        rec = {
            "phase": phase, "cycle": cycle, "epoch": ep,
            "lr_start": float(f"{lr_first:.3g}"), "lr_end": float(f"{lr:.3g}"),
            "train_mse_s2": round(tot / STEPS_PER_EPOCH, 4),
            "val_rmse_s": round(val_rmse(), 4),
            "mean_guess_rmse_s": round(baseline_rmse, 4),
        }
        print(json.dumps(rec), flush=True)

final = val_rmse()
print(json.dumps({"done": True, "steps": gstep, "val_rmse_s": round(final, 4),
                  "mean_guess_rmse_s": round(baseline_rmse, 4),
                  "skill_pct": round(100.0 * (1.0 - final / baseline_rmse), 1),
                  "wall_s": round(time.time() - t0, 2)}))
