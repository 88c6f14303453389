"""Predict how long a load needs in the tumble dryer (minutes) at a laundromat.

Each of the 14 dryers has a fixed 6-d "machine profile" vector that the ops team
computed once from the manufacturer's spec sheets; we keep that table frozen and
only learn the regressor on top of it. Warm-up starts the learning rate at 0.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1403)

N_MACHINES = 14
N_TRAIN, N_VAL = 12000, 2000


def make_loads(n):
    machine = rng.integers(0, N_MACHINES, size=n)
    weight_kg = rng.uniform(2.0, 11.0, size=n)
    cotton_frac = rng.beta(2.0, 1.5, size=n)
    spin_rpm = rng.choice([800.0, 1000.0, 1200.0, 1400.0], size=n)
    humidity = rng.uniform(0.25, 0.9, size=n)
    heat_setting = rng.integers(0, 3, size=n).astype(np.float64)  # low/med/high
    # residual water after the wash spin, in kg
    water = weight_kg * (0.9 - 0.00035 * spin_rpm) * (0.6 + 0.6 * cotton_frac)
    machine_speed = 0.75 + 0.5 * ((machine * 7) % N_MACHINES) / N_MACHINES
    minutes = (
        14.0
        + 9.5 * water / (machine_speed * (1.0 + 0.35 * heat_setting))
        + 11.0 * humidity**2
        + rng.normal(0.0, 2.2, size=n)
    )
    feats = np.stack(
        [
            (weight_kg - 6.5) / 2.6,
            (cotton_frac - 0.57) / 0.2,
            (spin_rpm - 1100.0) / 224.0,
            (humidity - 0.575) / 0.2,
            heat_setting - 1.0,
        ],
        axis=1,
    ).astype(np.float32)
    return machine.astype(np.int32), feats, minutes.astype(np.float32)


m_tr, x_tr, y_tr = make_loads(N_TRAIN)
m_va, x_va, y_va = make_loads(N_VAL)
Y_MEAN, Y_STD = float(y_tr.mean()), float(y_tr.std())


class DryTimeModel(nn.Module):
    def __init__(self, n_machines, profile_dim=6, n_feats=5, hidden=128):
        super().__init__()
        self.profile = nn.Embedding(n_machines, profile_dim)
        self.body = nn.Sequential(
            nn.Linear(profile_dim + n_feats, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
        )
        self.head = nn.Linear(hidden, 1)

    def __call__(self, machine, feats):
        z = mx.concatenate([self.profile(machine), feats], axis=-1)
        return self.head(self.body(z)).squeeze(-1)


mx.random.seed(1403)
model = DryTimeModel(N_MACHINES)
# the spec-sheet profiles: loaded once, never trained
spec_sheet = mx.array(rng.normal(0.0, 1.0, size=(N_MACHINES, 6)).astype(np.float32))
model.profile.update({"weight": spec_sheet})
model.profile.freeze()
mx.eval(model.parameters())

WARMUP, TOTAL, PEAK = 150, 3000, 2e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARMUP), optim.cosine_decay(PEAK, TOTAL - WARMUP, 2e-4)],
    [WARMUP],
)
opt = optim.Adam(learning_rate=schedule)


def loss_fn(mdl, machine, feats, target_z):
    pred = mdl(machine, feats)
    return nn.losses.huber_loss(pred, target_z, delta=1.0, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)

Mtr, Xtr, Ztr = mx.array(m_tr), mx.array(x_tr), mx.array((y_tr - Y_MEAN) / Y_STD)
Mva, Xva = mx.array(m_va), mx.array(x_va)


def validate():
    pred_min = np.array(model(Mva, Xva)) * Y_STD + Y_MEAN
    err = np.abs(pred_min - y_va)
    return float(err.mean()), 100.0 * float((err <= 3.0).mean())


BATCH = 128
batches_per_epoch = N_TRAIN // BATCH
order = rng.permutation(N_TRAIN)
run_loss, n_seen = 0.0, 0
t0 = time.time()
print(json.dumps({"event": "start", "train": N_TRAIN, "val": N_VAL,
                  "trainable": sum(v.size for _, v in tree_flatten(model.trainable_parameters())),
                  "frozen_profile_rows": N_MACHINES}))
for step in range(TOTAL):
    b = step % batches_per_epoch
    if b == 0 and step > 0:
        order = rng.permutation(N_TRAIN)
    idx = mx.array(order[b * BATCH:(b + 1) * BATCH])
    lr_now = float(schedule(step))  # the rate this update will use
    loss, grads = step_fn(model, Mtr[idx], Xtr[idx], Ztr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss += loss.item()
    n_seen += 1
    if (step + 1) % 250 == 0 or step == 0:
        mae, within = validate()
        print(json.dumps({
            "step": step + 1,
            "lr": round(lr_now, 6),
            "huber_z": round(run_loss / n_seen, 4),
            "val_mae_min": round(mae, 3),
            "val_within_3min_pct": round(within, 1),
        }))
        run_loss, n_seen = 0.0, 0

mae, within = validate()
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                  "val_mae_min": round(mae, 3), "val_within_3min_pct": round(within, 1),
                  "profile_unchanged": bool(mx.array_equal(model.profile.weight, spec_sheet).item())}))
