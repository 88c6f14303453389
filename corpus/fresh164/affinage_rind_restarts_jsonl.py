"""Cheese-cave affinage: predict 30-day weight loss (% of green weight) of a wheel
from cave and make conditions. Three warm-restart cycles, each starting from lr = 0.
Emits one JSON object per evaluation, plus a final summary."""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2026)

FEATURES = ["cave_temp_C", "rel_humidity", "brine_hours", "wheel_kg", "turns_per_week", "wax_coat"]


def make_wheels(n):
    t = 8 + 6 * mx.random.uniform(shape=(n,))
    rh = 0.78 + 0.18 * mx.random.uniform(shape=(n,))
    brine = 2 + 46 * mx.random.uniform(shape=(n,))
    kg = 0.3 + 11.7 * mx.random.uniform(shape=(n,))
    turns = mx.random.randint(1, 8, (n,)).astype(mx.float32)
    wax = (mx.random.uniform(shape=(n,)) < 0.3).astype(mx.float32)
    # made-up drying law: evaporation ~ vapour deficit * surface/volume, slowed by wax
    deficit = (1.0 - rh) * mx.exp(0.06 * (t - 11))
    surf = kg ** (-1.0 / 3.0)
    loss_pct = 55 * deficit * surf * (1 - 0.65 * wax) + 0.05 * brine + 0.3 * mx.log(turns) \
        + 0.25 * mx.random.normal((n,))
    X = mx.stack([t, rh, brine, kg, turns, wax], axis=1)
    return X, loss_pct[:, None]


Xtr, ytr = make_wheels(3000)
Xva, yva = make_wheels(600)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
ymu, ysd = ytr.mean(), ytr.std()
norm = lambda X: (X - mu) / sd


class RindNet(nn.Module):
    def __init__(self, d_in=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.ln = nn.LayerNorm(h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.silu(self.ln(self.inp(x)))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


model = RindNet()
CYCLE, WARM, PEAKS = 400, 60, [4e-3, 2e-3, 1e-3]
sched = optim.join_schedules(
    [s for p in PEAKS for s in (optim.linear_schedule(0.0, p, WARM), optim.cosine_decay(p, CYCLE - WARM))],
    [WARM * (i + 1) + (CYCLE - WARM) * i if j == 0 else CYCLE * (i + 1) for i in range(len(PEAKS)) for j in (0, 1)][:-1],
)
opt = optim.Adamax(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - ymu) / ysd, delta=1.0, reduction="mean")


state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# check every parameter receives a gradient before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, norm(Xtr[:256]), ytr[:256])
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_check", "n_params": len(tree_flatten(g0)), "zero_grad": dead}))

base_mae = mx.mean(mx.abs(yva - ymu)).item()
BS, step, best = 64, 0, math.inf
Xtr_n, Xva_n = norm(Xtr), norm(Xva)
for cycle in range(len(PEAKS)):
    cyc_step = 0
    while cyc_step < CYCLE:
        idx = mx.random.randint(0, Xtr.shape[0], (BS,))
        loss = train_step(Xtr_n[idx], ytr[idx])
        mx.eval(state, loss)
        step += 1
        cyc_step += 1
        if cyc_step in (1, 20, 60) or cyc_step % 100 == 0:
            pred = model(Xva_n) * ysd + ymu
            mae = mx.mean(mx.abs(pred - yva)).item()
            best = min(best, mae)
            print(json.dumps({"cycle": cycle + 1, "cstep": cyc_step, "lr": round(float(opt.learning_rate.item()), 6),
                              "huber": round(loss.item(), 4), "val_mae_pp": round(mae, 3),
                              "mean_baseline_pp": round(base_mae, 3)}))

print(json.dumps({"event": "done", "steps": step, "best_val_mae_pp": round(best, 3),
                  "baseline_mae_pp": round(base_mae, 3), "noise_floor_pp": 0.2}))
