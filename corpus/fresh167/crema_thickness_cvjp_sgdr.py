"""Espresso bench notebook: predict crema thickness (mm) from shot settings.

MLP with a hand-written 'softclip' activation (custom VJP), AdamW under a
warmup-from-zero + cosine warm-restart schedule, compiled train step.
Prints one JSON object per line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(167)
mx.random.seed(167)


def make_shots(n):
    grind = rng.uniform(150, 450, n)          # microns
    dose = rng.uniform(16, 22, n)              # grams
    temp = rng.uniform(88, 96, n)              # deg C
    pressure = rng.uniform(6, 11, n)           # bar
    age = rng.uniform(2, 40, n)                # days since roast
    robusta = rng.uniform(0, 0.4, n)           # blend share
    co2 = np.exp(-age / 12.0)
    flow = (grind / 300.0) ** 1.5 * (pressure / 9.0) / (dose / 18.0)
    crema = (2.0 + 4.5 * co2 + 3.0 * robusta
             + 1.2 * np.tanh(3.0 * (pressure - 8.0) / 3.0)
             - 1.5 * (flow - 1.0) ** 2
             + 0.08 * (temp - 92.0)
             + rng.normal(0, 0.25, n))
    X = np.stack([grind, dose, temp, pressure, age, robusta], 1)
    return X.astype(np.float32), np.maximum(crema, 0.1).astype(np.float32)


Xtr, ytr = make_shots(4000)
Xva, yva = make_shots(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


@mx.custom_function
def softclip(x):
    return x / (1.0 + mx.abs(x))


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals
    d = 1.0 + mx.abs(x)
    return cotangent / (d * d)


class CremaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = softclip(self.l1(x))
        h = softclip(self.l2(h)) + h
        return self.out(h).squeeze(-1)


model = CremaNet()
mx.eval(model.parameters())

steps_per_cycle = 250
warm = optim.linear_schedule(0.0, 4e-3, 60)
cycles = [optim.cosine_decay(4e-3, steps_per_cycle, 2e-5) for _ in range(3)]
sched = optim.join_schedules([warm] + cycles,
                             [60, 60 + steps_per_cycle, 60 + 2 * steps_per_cycle])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def check_grads():
    _, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
    from mlx.utils import tree_flatten
    norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
    return norms


base_mse = float(mx.mean((yva - mx.mean(ytr)) ** 2))
g0 = check_grads()
print(json.dumps({"event": "grad_audit", "zero_grad_params": [k for k, v in g0.items() if v == 0.0],
                  "min_norm": round(min(g0.values()), 6)}))
print(json.dumps({"event": "start", "n_train": int(Xtr.shape[0]), "baseline_mse_mm2": round(base_mse, 4),
                  "lr0": float(sched(mx.array(0)))}))

step = mx.compile(step, inputs=state, outputs=state)
bs = 64
t0 = time.time()
total = 60 + 3 * steps_per_cycle
perm = np.random.default_rng(1).permutation
it = 0
idx = perm(Xtr.shape[0])
ptr = 0
window = []
while it < total:
    if ptr + bs > Xtr.shape[0]:
        idx = perm(Xtr.shape[0]); ptr = 0
    b = mx.array(idx[ptr:ptr + bs]); ptr += bs
    loss = step(Xtr[b], ytr[b])
    mx.eval(loss, model.parameters(), opt.state)
    window.append(loss.item())
    it += 1
    if it % 30 == 0 or it == total:
        val = float(loss_fn(model, Xva, yva))
        lr = float(opt.learning_rate)
        print(json.dumps({"it": it, "lr": round(lr, 6), "train_mse": round(sum(window) / len(window), 4),
                          "val_mse": round(val, 4), "val_rmse_mm": round(math.sqrt(val), 4),
                          "r2": round(1 - val / base_mse, 4), "baseline_mse_mm2": round(base_mse, 4)}))
        window = []

val = float(loss_fn(model, Xva, yva))
print(json.dumps({"event": "done", "val_mse": round(val, 4), "baseline_mse_mm2": round(base_mse, 4),
                  "skill_pct": round(100 * (1 - val / base_mse), 1), "sec": round(time.time() - t0, 2)}))
