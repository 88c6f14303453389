"""Clockmaker's sundial correction table.

Learn the 'sundial minus clock' offset (minutes) at noon from day-of-year and the
site's longitude offset from its time-zone meridian, so a mail-order sundial can ship
with a printed correction card.  Synthetic data: equation of time (Spencer-style
three-term fit) + 4 min per degree of longitude + a small gnomon-misalignment term
+ reading noise.

Schedule: learning rate ramps up from exactly 0, then cosine warm restarts
(3 cycles, each restart jumps the lr back up).  One JSON object per report line.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

N_TRAIN, N_VAL = 3000, 600


def make_sites(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    day = mx.random.uniform(0, 365, (n,), key=k1)
    dlon = mx.random.uniform(-7.5, 7.5, (n,), key=k2)       # deg from zone meridian
    tilt = mx.random.normal((n,), key=k3) * 0.6              # gnomon misalignment, deg
    b = 2 * math.pi * (day - 81) / 365
    eot = 9.87 * mx.sin(2 * b) - 7.53 * mx.cos(b) - 1.5 * mx.sin(b)
    y = eot + 4.0 * dlon + 1.8 * tilt * mx.cos(b) + 0.25 * mx.random.normal((n,), key=k4)
    w = 2 * math.pi * day / 365
    x = mx.stack([mx.sin(w), mx.cos(w), mx.sin(2 * w), mx.cos(2 * w), dlon / 7.5, tilt], axis=1)
    return x, y[:, None]


keys = mx.random.split(mx.random.key(3), 2)
Xtr, Ytr = make_sites(N_TRAIN, keys[0])
Xva, Yva = make_sites(N_VAL, keys[1])
y_mu, y_sd = Ytr.mean(), Ytr.std()


class CorrectionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


model = CorrectionNet()
mx.eval(model.parameters())

STEPS_PER_CYCLE = 300
N_CYCLES = 3
WARM = 60
TOTAL = WARM + STEPS_PER_CYCLE * N_CYCLES
warm = optim.linear_schedule(0.0, 3e-3, WARM)
cycles = [optim.cosine_decay(3e-3 * (0.7 ** c), STEPS_PER_CYCLE, end=2e-5) for c in range(N_CYCLES)]
sched = optim.join_schedules([warm] + cycles,
                             [WARM] + [WARM + STEPS_PER_CYCLE * c for c in range(1, N_CYCLES)])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - y_mu) / y_sd, delta=1.0, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)

# sanity: every weight matrix receives gradient at init
_, g0 = step_fn(model, Xtr[:256], Ytr[:256])
from mlx.utils import tree_flatten
zero_grads = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_tensors": len(tree_flatten(g0)), "zero_grad": zero_grads}))

baseline_mae = float(mx.abs(Yva - y_mu).mean())
BATCH = 128
t0 = time.time()
for it in range(TOTAL):
    idx = mx.random.randint(0, N_TRAIN, (BATCH,))
    lr_now = float(opt.learning_rate) if it > 0 else 0.0
    loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 60 == 0 or it == TOTAL - 1 or (it - WARM) % STEPS_PER_CYCLE == 0:
        pred = model(Xva) * y_sd + y_mu
        mae = float(mx.abs(pred - Yva).mean())
        cycle = 0 if it < WARM else 1 + (it - WARM) // STEPS_PER_CYCLE
        print(json.dumps({"it": it, "cycle": cycle, "lr": round(lr_now, 6),
                          "huber": round(float(loss), 4),
                          "val_mae_min": round(mae, 3),
                          "mean_card_mae_min": round(baseline_mae, 3)}))

final_pred = model(Xva) * y_sd + y_mu
final_mae = float(mx.abs(final_pred - Yva).mean())
worst = float(mx.abs(final_pred - Yva).max())
print(json.dumps({"event": "card_ready", "val_mae_min": round(final_mae, 3),
                  "worst_day_err_min": round(worst, 2),
                  "skill_vs_mean_card": f"{100 * (1 - final_mae / baseline_mae):.1f}%",
                  "wall_s": round(time.time() - t0, 2)}))
