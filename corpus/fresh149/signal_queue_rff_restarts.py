"""Queue length at a signalised approach (vehicles per lane at the start of green).

Inputs per cycle: minute of day, red duration (s), upstream detector flow
(veh/h), share of heavy vehicles, and whether a school is letting out.
A FROZEN random-Fourier-feature layer encodes the inputs (kept fixed on
purpose: it is a fixed basis, not a learned one) and a small trainable readout
on top is fitted with Adagrad under a schedule that warms up from exactly 0 and
then restarts (cosine cycles), so the loss jumps up at every restart.
One JSON object per log line; the persistence baseline (same queue as the
previous cycle) is printed beside the model.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = random.Random(7)


def make_cycles(n):
    rows, prev_q = [], 3.0
    for _ in range(n):
        minute = rng.uniform(0, 1440)
        red = rng.uniform(30, 90)
        peak = math.exp(-((minute - 480) / 70) ** 2) + 0.8 * math.exp(-((minute - 1050) / 90) ** 2)
        flow = 250 + 650 * peak + rng.gauss(0, 60)
        heavy = rng.uniform(0.0, 0.2)
        school = 1.0 if 900 <= minute <= 940 and rng.random() < 0.7 else 0.0
        q = flow / 3600 * red * (1 + 1.5 * heavy) / 2 + 4.0 * school + rng.gauss(0, 0.6)
        q = max(q, 0.0)
        rows.append((minute, red, flow, heavy, school, q, prev_q))
        prev_q = q
    return rows


def to_arrays(rows):
    x = mx.array([[r[0] / 1440, (r[1] - 60) / 30, (r[2] - 550) / 300, r[3] / 0.2, r[4]] for r in rows])
    y = mx.array([r[5] for r in rows])
    prev = mx.array([r[6] for r in rows])
    return x, y, prev


train_rows, val_rows = make_cycles(3000), make_cycles(800)
xtr, ytr, _ = to_arrays(train_rows)
xva, yva, prev_va = to_arrays(val_rows)
persist_mae = mx.abs(yva - prev_va).mean().item()
mean_mae = mx.abs(yva - ytr.mean()).mean().item()


class RFF(nn.Module):
    def __init__(self, d_in, d_out, scale):
        super().__init__()
        self.W = scale * mx.random.normal((d_in, d_out))
        self.b = mx.random.uniform(0, 2 * math.pi, (d_out,))

    def __call__(self, x):
        # minute of day is periodic: feed it as sin/cos first
        ang = 2 * math.pi * x[:, :1]
        x = mx.concatenate([mx.sin(ang), mx.cos(ang), x[:, 1:]], axis=1)
        return math.sqrt(2.0 / self.W.shape[1]) * mx.cos(x @ self.W + self.b)


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = RFF(6, 256, 1.7)
        self.mix = nn.Linear(256, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.mix(self.enc(x)))).squeeze(-1)


mx.random.seed(3)
net = QueueNet()
net.enc.freeze()
n_train = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(net.parameters()))

EPOCHS, BS = 36, 100
steps_per_epoch = len(train_rows) // BS
warm = optim.linear_schedule(0.0, 0.08, 2 * steps_per_epoch)
cycles = [optim.cosine_decay(0.08, 10 * steps_per_epoch, 0.004) for _ in range(3)]
bounds = [2 * steps_per_epoch + 10 * steps_per_epoch * i for i in range(1, 3)]
lr = optim.join_schedules([warm] + cycles, [2 * steps_per_epoch] + bounds)
opt = optim.Adagrad(learning_rate=lr)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(net, huber)
print(json.dumps({"event": "start", "trainable": n_train, "total": n_all,
                  "persistence_mae_veh": round(persist_mae, 3), "mean_mae_veh": round(mean_mae, 3)}))

frozen_before = net.enc.W.sum().item()
for epoch in range(EPOCHS):
    perm = mx.array(rng.sample(range(len(train_rows)), len(train_rows)))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, g = grad_fn(net, xtr[idx], ytr[idx])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
        tot += loss.item()
    pred = net(xva)
    mae = mx.abs(pred - yva).mean().item()
    print(json.dumps({"ep": epoch, "lr": round(opt.learning_rate.item(), 5),
                      "huber": round(tot / steps_per_epoch, 4), "mae": round(mae, 3),
                      "persist": round(persist_mae, 3)}))

frozen_after = net.enc.W.sum().item()
print(json.dumps({"event": "done", "val_mae_veh": round(mae, 3),
                  "vs_persistence_pct": round(100 * (1 - mae / persist_mae), 1),
                  "encoder_drift": abs(frozen_after - frozen_before)}))
