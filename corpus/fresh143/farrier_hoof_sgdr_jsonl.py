# Farrier's notebook: how many mm of hoof wall grows between visits.
# Fit a small net to (synthetic) visit records, SGD + Nesterov, warmup from 0
# then cosine warm restarts. One JSON object per log line.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(143)
N_TRAIN, N_VAL = 5000, 1200


def make_visits(n):
    size = rng.uniform(0.0, 1.0, n)            # pony .. draught (0..1)
    age = rng.uniform(2.0, 25.0, n)            # years
    doy = rng.uniform(0, 2 * math.pi, n)       # day of year as angle
    biotin = (rng.uniform(size=n) < 0.35).astype(np.float64)
    turnout = rng.uniform(0.0, 20.0, n)        # hours/day at grass
    ground = rng.uniform(0.0, 1.0, n)          # soft .. rocky
    weeks = rng.uniform(4.0, 9.0, n)           # weeks since last trim
    rate = (2.2 + 0.9 * np.sin(doy - 1.2) + 0.6 * biotin
            - 0.035 * np.maximum(age - 12.0, 0.0) + 0.02 * turnout
            + 0.5 * size * (1 - ground))       # mm per week (made up)
    growth = rate * weeks - 3.0 * ground * np.sqrt(weeks)  # wear on rocky ground
    growth = growth + rng.normal(0.0, 0.8, n)
    x = np.stack([size, age / 25.0, np.sin(doy), np.cos(doy), biotin,
                  turnout / 20.0, ground, weeks / 9.0], axis=1)
    return x.astype(np.float32), growth.astype(np.float32)


xtr, ytr = make_visits(N_TRAIN)
xva, yva = make_visits(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
y_mu, y_sd = float(ytr.mean()), float(ytr.std())
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr = mx.array(xtr), mx.array((ytr - y_mu) / y_sd)
Xva, Yva = mx.array(xva), mx.array(yva)
baseline_mae = float(np.abs(yva - y_mu).mean())


class HoofNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = HoofNet()
mx.eval(model.parameters())

BATCH = 128
STEPS_PER_EPOCH = N_TRAIN // BATCH
WARM = 60
CYCLE = 400
N_CYCLES = 3
PEAK = 0.05
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM)]
    + [optim.cosine_decay(PEAK, CYCLE, 1e-4) for _ in range(N_CYCLES)],
    [WARM + k * CYCLE for k in range(N_CYCLES)],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def evaluate():
    pred = model(Xva) * y_sd + y_mu
    err = pred - Yva
    mae = mx.mean(mx.abs(err))
    r2 = 1.0 - mx.sum(err * err) / mx.sum((Yva - Yva.mean()) ** 2)
    return mae.item(), r2.item()


# gradient check on the first batch: every tensor must receive signal
_, g0 = vg(model, Xtr[:BATCH], Ytr[:BATCH])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    assert mx.abs(v).sum().item() > 0, k

total = WARM + N_CYCLES * CYCLE
t0 = time.time()
step = 0
perm = np.arange(N_TRAIN)
run_loss, n_acc = 0.0, 0
while step < total:
    rng.shuffle(perm)
    for b in range(STEPS_PER_EPOCH):
        if step >= total:
            break
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        lr_now = float(opt.learning_rate.item())
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        n_acc += 1
        step += 1
        if step <= WARM:
            phase, k_in = "warmup", step
        else:
            phase = f"cycle{(step - WARM - 1) // CYCLE + 1}"
            k_in = (step - WARM - 1) % CYCLE + 1
        if k_in == 1 or k_in % 50 == 0:
            mae, r2 = evaluate()
            print(json.dumps({
                "phase": phase, "k": k_in, "lr": round(lr_now, 5),
                "huber": round(run_loss / n_acc, 4),
                "val_mae_mm": round(mae, 3), "ref_mae_mm": round(baseline_mae, 3),
                "r2_pct": round(100 * r2, 1),
            }))
            run_loss, n_acc = 0.0, 0

mae, r2 = evaluate()
print(json.dumps({"done": True, "steps": step, "val_mae_mm": round(mae, 3),
                  "ref_mae_mm": round(baseline_mae, 3), "r2_pct": round(100 * r2, 1),
                  "sec": round(time.time() - t0, 1)}))
