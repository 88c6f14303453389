"""Accordion reed bench: predicts the bellows pressure (Pa) at which a free
reed starts to speak, from the reed-block measurements.  Lion + warm-restart
cosine schedule that starts at lr = 0, JSON lines per eval."""
import json
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = random.Random(2024)


def reed_bench(n):
    rows, ys = [], []
    for _ in range(n):
        length = rng.uniform(14, 60)        # mm, tongue length
        thick = rng.uniform(0.15, 0.6)      # mm at the root
        gap = rng.uniform(0.02, 0.25)       # mm set above the plate
        leather = rng.choice([0.0, 1.0])    # valve leather fitted
        temp = rng.uniform(8, 32)           # deg C in the workshop
        wax_age = rng.uniform(0, 40)        # years since re-waxing
        stiff = (thick / 0.35) ** 2 * (30 / length) ** 1.5
        pa = 60 * stiff * (0.6 + 4 * gap) * (1 + 0.15 * leather) * (1 - 0.004 * (temp - 20))
        pa += 0.9 * wax_age
        pa *= 1 + rng.gauss(0, 0.05)
        rows.append([length / 60, thick / 0.6, gap / 0.25, leather, temp / 32, wax_age / 40])
        ys.append(pa)
    return mx.array(rows), mx.array(ys)


Xtr, Ytr = reed_bench(6000)
Xva, Yva = reed_bench(1200)
y_mu, y_sd = Ytr.mean(), Ytr.std()

# reference: least squares on [1, thick^2 / length^1.5] (plain cantilever stiffness rule)
def ref_feats(X):
    return mx.stack([mx.ones(X.shape[0]), (X[:, 1] ** 2) / (X[:, 0] ** 1.5)], axis=1)

F = ref_feats(Xtr)
coef = mx.linalg.solve(F.T @ F, F.T @ Ytr[:, None], stream=mx.cpu)
ref_mae = mx.abs(ref_feats(Xva) @ coef - Yva[:, None]).mean().item()


class OnsetNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(11)
model = OnsetNet()
CYCLE, CYCLES, BS = 150, 4, 128
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, 30)]
    + [optim.cosine_decay(1e-3, CYCLE, 1e-6)] * CYCLES,
    [30 + CYCLE * k for k in range(CYCLES)],
)
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), (y - y_mu) / y_sd, delta=1.0, reduction="mean")


state = [model.state, opt.state]


from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def val_metrics():
    pred = model(Xva) * y_sd + y_mu
    err = pred - Yva
    return mx.abs(err).mean().item(), mx.sqrt((err ** 2).mean()).item()


# one-off gradient audit before training: every tensor must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print(f"# grad audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {dead}")

total = 30 + CYCLE * CYCLES
t0 = time.time()
running = None
for it in range(1, total + 1):
    idx = mx.array(rng.sample(range(Xtr.shape[0]), BS))
    loss = step(Xtr[idx], Ytr[idx])
    mx.eval(state, loss)
    running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
    if it % 30 == 0 or it == 1:
        mae, rmse = val_metrics()
        print(json.dumps({
            "it": it,
            "lr": round(float(opt.learning_rate.item()), 7),
            "huber_ema": round(running, 4),
            "val_mae_pa": round(mae, 3),
            "val_rmse_pa": round(rmse, 3),
            "ref_mae_pa": round(ref_mae, 3),
            "sec": round(time.time() - t0, 2),
        }))

mae, rmse = val_metrics()
print(f"# done: val MAE {mae:.2f} Pa vs cantilever reference {ref_mae:.2f} Pa "
      f"({100 * (1 - mae / ref_mae):.1f}% better), mean onset {Yva.mean().item():.1f} Pa")
