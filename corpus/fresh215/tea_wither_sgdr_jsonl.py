# Tea factory: predict leaf moisture (%) at the end of a withering-trough run.
# Compiled SGD-nesterov step, lr warmed up from exactly 0 then cosine warm restarts.
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(215)


def make_runs(n):
    m0 = rng.uniform(74, 82, n)          # plucked leaf moisture %
    temp = rng.uniform(22, 34, n)        # trough air temp C
    rh = rng.uniform(45, 92, n)          # relative humidity %
    flow = rng.uniform(0.5, 2.5, n)      # airflow m/s
    load = rng.uniform(18, 32, n)        # leaf load kg/m2
    hours = rng.uniform(8, 18, n)        # wither time h
    fine = rng.uniform(0.2, 0.8, n)      # bud + first-leaf fraction
    drive = (temp - 20) * (1 - rh / 110) * np.sqrt(flow) * hours / load
    loss = 30 * (1 - np.exp(-drive / 2.2)) * (0.8 + 0.4 * fine)
    y = m0 - loss + rng.normal(0, 0.6, n)
    X = np.stack([m0, temp, rh, flow, load, hours, fine], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_runs(4000)
Xva, yva = make_runs(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n, yva_n = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
baseline_rmse = float(np.sqrt(np.mean((yva - ymu) ** 2)))


class WitherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


mx.random.seed(215)
model = WitherNet()
mx.eval(model.parameters())

WARM, PERIOD, PEAK = 60, 200, 0.08


def restarts(s):
    # join_schedules hands this the step count since the warm-up ended
    return PEAK * 0.5 * (1.0 + mx.cos(math.pi * (s % PERIOD) / PERIOD))


sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM), restarts], [WARM])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


BATCH, STEPS = 128, WARM + 3 * PERIOD
n = Xtr.shape[0]
t0 = time.time()
win = []
for it in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, n, BATCH))
    lr_now = float(opt.learning_rate)
    loss = step(Xtr[idx], ytr_n[idx])
    mx.eval(loss, model.parameters(), opt.state)
    win.append(loss.item())
    if it % 20 == 0 or it == 1:
        pred = model(Xva) * ysd + ymu
        rmse = math.sqrt(mx.mean((pred - mx.array(yva)) ** 2).item())
        cycle = 0 if it <= WARM else 1 + (it - WARM - 1) // PERIOD
        print(json.dumps({
            "step": it, "cycle": cycle, "lr": round(lr_now, 5),
            "train_mse_z": round(sum(win) / len(win), 4),
            "val_rmse_pct": round(rmse, 3), "mean_guess_rmse_pct": round(baseline_rmse, 3),
        }))
        win = []

pred = model(Xva) * ysd + ymu
final = math.sqrt(mx.mean((pred - mx.array(yva)) ** 2).item())
print(json.dumps({"done": True, "val_rmse_pct": round(final, 3),
                  "skill_vs_mean": round(1 - final / baseline_rmse, 3),
                  "seconds": round(time.time() - t0, 2)}))
