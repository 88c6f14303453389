"""Bagel bakery bench: predict crumb chew (peak force, newtons) of a bagel from its
kettle-boil and bake sheet. Synthetic data, made-up law.

SGD + Nesterov momentum on a warm-restart schedule (every cycle starts its learning
rate at exactly 0, warms up linearly, then cosine-decays).  The step is compiled
with the model/optimizer state captured.  One JSON object per log line.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(1904)

# ---- synthetic bakery sheets ------------------------------------------------
N_TRAIN, N_VAL = 4000, 800


def make_sheets(n):
    boil_s = rng.uniform(20, 120, n)          # seconds per side in the kettle
    malt = rng.uniform(0, 40, n)              # g/L barley malt syrup in the kettle
    lye = (rng.random(n) < 0.25).astype(float)
    hydration = rng.uniform(52, 62, n)        # % baker's
    retard_h = rng.uniform(0, 36, n)          # cold retard hours
    oven_c = rng.uniform(215, 260, n)
    bake_min = rng.uniform(14, 24, n)
    chew = (
        18.0
        + 0.09 * boil_s
        - 0.00035 * (boil_s - 70) ** 2
        + 0.06 * malt
        + 2.5 * lye
        - 0.9 * (hydration - 57)
        + 3.0 * np.tanh((retard_h - 12) / 8)
        + 0.05 * (oven_c - 235) * (bake_min - 19) * 0.4
        + 0.6 * (bake_min - 19)
        + rng.normal(0, 0.8, n)
    )
    X = np.stack([boil_s, malt, lye, hydration, retard_h, oven_c, bake_min], 1)
    return X, chew


Xtr, ytr = make_sheets(N_TRAIN)
Xva, yva = make_sheets(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
y_mu, y_sd = ytr.mean(), ytr.std()
Xtr_m = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xva_m = mx.array(((Xva - mu) / sd).astype(np.float32))
ytr_m = mx.array(((ytr - y_mu) / y_sd).astype(np.float32))
yva_np = yva.astype(np.float32)

naive_rmse = float(np.sqrt(np.mean((yva - y_mu) ** 2)))   # predict the train mean


class ChewNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = ChewNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


state = [model.state, opt.state]


def step(x, y, lr):
    opt.learning_rate = lr
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


step = mx.compile(step, inputs=state, outputs=state)

CYCLES = [80, 160, 320]       # SGDR: each cycle twice as long
PEAK = [0.08, 0.06, 0.04]
WARM = 12
BATCH = 128


def lr_at(t, length, peak):
    if t < WARM:
        return peak * t / WARM          # t == 0 -> exactly 0.0
    p = (t - WARM) / max(1, length - WARM)
    return 1e-4 + 0.5 * (peak - 1e-4) * (1 + math.cos(math.pi * p))


def val_rmse():
    pred = np.array(model(Xva_m)) * y_sd + y_mu
    return float(np.sqrt(np.mean((pred - yva_np) ** 2)))


t0 = time.time()
perm_rng = np.random.default_rng(3)
running = None
for c, (length, peak) in enumerate(zip(CYCLES, PEAK), start=1):
    for t in range(length):
        idx = mx.array(perm_rng.integers(0, N_TRAIN, BATCH))
        lr = lr_at(t, length, peak)
        loss = step(Xtr_m[idx], ytr_m[idx], mx.array(lr, dtype=mx.float32))
        mx.eval(loss, state)
        lv = loss.item()
        running = lv if running is None else 0.9 * running + 0.1 * lv
        if t % 20 == 0 or t == length - 1:
            print(json.dumps({
                "cycle": c, "t": t, "lr": round(lr, 5),
                "mse_std": round(running, 4),
                "rmse_N": round(val_rmse(), 3),
                "mean_guess_rmse_N": round(naive_rmse, 3),
            }))
    print(json.dumps({"event": "restart" if c < len(CYCLES) else "done",
                      "cycle": c, "rmse_N": round(val_rmse(), 3)}))

final = val_rmse()
print(json.dumps({"summary": True, "final_rmse_N": round(final, 3),
                  "mean_guess_rmse_N": round(naive_rmse, 3),
                  "skill_pct": round(100 * (1 - final / naive_rmse), 1),
                  "seconds": round(time.time() - t0, 2)}))
