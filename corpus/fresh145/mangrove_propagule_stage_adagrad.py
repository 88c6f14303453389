"""Mangrove restoration plots: 6-month height growth (cm) of planted Rhizophora
propagules from site readings.  Two-stage curriculum: sheltered lagoon plots
first, then wave-exposed fringe plots are mixed in.  Each stage restarts its
step counter and warms the learning rate up from exactly 0."""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(11)
mx.random.seed(11)

FEATURES = ["salinity_ppt", "inundation_h", "grain_mm", "propagule_cm",
            "canopy_gap_pct", "crab_index", "wave_exposure"]


def make_plots(n, exposed):
    rows, ys = [], []
    for _ in range(n):
        sal = random.uniform(10, 45)
        inund = random.uniform(2, 14)
        grain = random.uniform(0.05, 1.2)
        prop = random.uniform(18, 40)
        gap = random.uniform(0, 80)
        crab = random.uniform(0, 1)
        wave = random.uniform(0.5, 3.0) if exposed else random.uniform(0.0, 0.4)
        growth = (22.0 + 0.45 * prop - 0.012 * (sal - 25) ** 2
                  - 0.35 * (inund - 7) ** 2 / 3 + 0.08 * gap
                  - 9.0 * crab * (1 - grain))
        # exposed plots: waves scour fine sediment and snap tall seedlings
        growth -= 6.0 * wave * (1.3 - grain) + 2.5 * wave * max(0.0, prop - 30) / 10
        growth += random.gauss(0, 1.5)
        rows.append([(sal - 27) / 10, (inund - 8) / 4, (grain - 0.6) / 0.35,
                     (prop - 29) / 6, (gap - 40) / 23, (crab - 0.5) / 0.29,
                     (wave - 1.0) / 1.0])
        ys.append(growth)
    return mx.array(rows), mx.array(ys)


sheltered_x, sheltered_y = make_plots(900, exposed=False)
exposed_x, exposed_y = make_plots(900, exposed=True)
val_sh_x, val_sh_y = make_plots(200, exposed=False)
val_ex_x, val_ex_y = make_plots(200, exposed=True)

Y_MU, Y_SD = 30.0, 12.0


class GrowthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


model = GrowthNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return mx.mean((m(x) - (y - Y_MU) / Y_SD) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)
opt = optim.Adagrad(learning_rate=0.0)

# one-off gradient audit: every tensor should get signal
_, g0 = loss_and_grad(model, sheltered_x[:64], sheltered_y[:64])
audit = {k: round(float(mx.sqrt(mx.sum(v * v)).item()), 4) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "norms": audit}))


def val_mae_cm(x, y):
    return float(mx.mean(mx.abs(model(x) * Y_SD + Y_MU - y)).item())


def mean_baseline_mae(train_y, y):
    return float(mx.mean(mx.abs(mx.mean(train_y) - y)).item())


stages = [
    ("sheltered", sheltered_x, sheltered_y, val_sh_x, val_sh_y, 300),
    ("sheltered+exposed",
     mx.concatenate([sheltered_x, exposed_x]), mx.concatenate([sheltered_y, exposed_y]),
     mx.concatenate([val_sh_x, val_ex_x]), mx.concatenate([val_sh_y, val_ex_y]), 450),
]
PEAK_LR, WARM, BATCH = 0.05, 40, 64

for s_idx, (name, tx, ty, vx, vy, steps) in enumerate(stages, start=1):
    n = tx.shape[0]
    base = mean_baseline_mae(ty, vy)
    for step in range(steps):
        if step < WARM:
            lr = PEAK_LR * step / WARM
        else:
            lr = PEAK_LR * 0.5 * (1 + math.cos(math.pi * (step - WARM) / (steps - WARM)))
        opt.learning_rate = lr
        idx = mx.random.randint(0, n, (BATCH,))
        loss, grads = loss_and_grad(model, tx[idx], ty[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0 or step == steps - 1:
            print(json.dumps({"stage": s_idx, "plots": name, "step": step,
                              "lr": round(lr, 5), "train_mse_z": round(loss.item(), 4),
                              "val_mae_cm": round(val_mae_cm(vx, vy), 3),
                              "mean_baseline_mae_cm": round(base, 3)}))

final_sh = val_mae_cm(val_sh_x, val_sh_y)
final_ex = val_mae_cm(val_ex_x, val_ex_y)
print(json.dumps({"event": "summary", "sheltered_val_mae_cm": round(final_sh, 3),
                  "exposed_val_mae_cm": round(final_ex, 3),
                  "noise_floor_mae_cm": round(1.5 * math.sqrt(2 / math.pi), 3)}))
