"""Ice-rink surface temperature forecaster.

Predict the ice surface temperature 10 minutes ahead (degC) from the
refrigeration plant's and the arena's sensors.  Trained with Nesterov SGD under
an SGDR schedule (cosine cycles of 300, 600 and 1200 steps with warm restarts,
so the training loss jumps up at every restart), inside one mx.compile'd step
that carries model, optimizer and RNG state (dropout).  A Polyak/EMA copy of
the weights is kept beside the live ones and both are validated.

Report is a Markdown table; the loss column is an exponential moving average
that starts at 0 and is bias-corrected (like Adam's first moment).
"""

from functools import partial
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

FEATURES = ["brine_supply_C", "brine_return_C", "air_C", "rel_humidity",
            "skaters", "min_since_resurface", "lights_on"]


def rink_log(n, rng):
    supply = rng.normal(-8.5, 1.2, n)
    ret = supply + rng.gamma(2.0, 0.6, n)
    air = rng.normal(12, 4, n)
    rh = np.clip(rng.normal(55, 12, n), 20, 95)
    skaters = rng.poisson(rng.choice([0, 15, 60], n)).astype(np.float64)
    since = rng.uniform(0, 90, n)
    lights = (rng.random(n) < 0.7).astype(np.float64)
    # made-up heat balance
    t = (0.55 * supply + 0.3 * ret + 0.045 * air + 0.006 * rh * np.maximum(air, 0) / 10
         + 0.012 * skaters * np.exp(-since / 40) + 0.35 * lights
         + 0.6 * np.exp(-since / 12) - 0.2)
    t += rng.normal(0, 0.15, n)
    X = np.stack([supply, ret, air, rh, skaters, since, lights], 1)
    return X.astype(np.float32), t.astype(np.float32)[:, None]


rng = np.random.default_rng(7)
Xtr, ytr = rink_log(8000, rng)
Xva, yva = rink_log(2000, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
y_mu, y_sd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
ytr_m = mx.array((ytr - y_mu) / y_sd)
Xva_m = mx.array((Xva - mu) / sd)
yva_np = yva[:, 0]


class Forecaster(nn.Module):
    def __init__(self, d_in, width=64, p_drop=0.05):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.hidden = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.drop = nn.Dropout(p_drop)

    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        h = h + self.drop(nn.gelu(self.hidden(h)))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def sgdr(base_lr, cycles, floor=1e-4):
    """cosine cycles joined end to end -> warm restarts at each boundary."""
    parts = [optim.cosine_decay(base_lr, c, end=floor) for c in cycles]
    bounds = list(np.cumsum(cycles)[:-1].astype(int))
    return optim.join_schedules(parts, bounds), [0] + bounds


def val_mae_degC(params, probe):
    """MAE of a parameter set, evaluated through a probe model in eval mode."""
    probe.update(params)
    pred = probe(Xva_m)
    pred_c = np.array(pred)[:, 0] * y_sd + y_mu
    return float(np.mean(np.abs(pred_c - yva_np)))


mx.random.seed(3)
model = Forecaster(len(FEATURES))
probe = Forecaster(len(FEATURES))
probe.eval()
CYCLES = [300, 600, 1200]
schedule, restarts = sgdr(0.05, CYCLES)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=1e-4)

# first-step gradient audit, outside the compiled step
loss_and_grad = nn.value_and_grad(model, loss_fn)
_, g0 = loss_and_grad(model, Xtr_m[:64], ytr_m[:64])
leaves = tree_flatten(g0)
dead = [k for k, g in leaves if mx.all(g == 0).item()]
print(f"gradient audit: {len(leaves)} leaves, dead = {dead or 'none'}")
assert not dead

state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


ema_w = tree_map(lambda p: mx.array(p), model.trainable_parameters())  # Polyak copy
EMA_DECAY = 0.995
mx.eval(ema_w)

baseline = float(np.mean(np.abs(yva_np - np.median(ytr))))
print(f"rink log: {len(Xtr)} train / {len(Xva)} valid rows, target sd {y_sd:.2f} degC,"
      f" constant-forecast MAE {baseline:.3f} degC\n")
print("| step | lr | huber loss (EMA, bias-corr.) | valid MAE live degC | valid MAE polyak degC | note |")
print("|-----:|---:|-----------------------------:|--------------------:|----------------------:|:-----|")

batch = 64
total = sum(CYCLES)
order = np.random.default_rng(5)
perm = order.permutation(len(Xtr))
cursor = 0
loss_ema, beta = 0.0, 0.98
t0 = time.perf_counter()
model.train()
for step in range(1, total + 1):
    if cursor + batch > len(perm):
        perm, cursor = order.permutation(len(Xtr)), 0
    idx = mx.array(perm[cursor:cursor + batch])
    cursor += batch

    loss = train_step(Xtr_m[idx], ytr_m[idx])
    ema_w = tree_map(lambda e, p: EMA_DECAY * e + (1 - EMA_DECAY) * p,
                     ema_w, model.trainable_parameters())
    mx.eval(state, loss, ema_w)

    loss_ema = beta * loss_ema + (1 - beta) * loss.item()
    shown = loss_ema / (1 - beta ** step)

    note = ""
    if step - 1 in restarts[1:]:
        note = "warm restart"
    if step % 150 == 0 or step == 1 or note:
        lr_now = opt.learning_rate.item()
        live = val_mae_degC(model.trainable_parameters(), probe)
        pol = val_mae_degC(ema_w, probe)
        print(f"| {step:4d} | {lr_now:.4f} | {shown:.4f} | {live:.3f} | {pol:.3f} | {note} |")

print(f"\ntrained {total} steps in {time.perf_counter() - t0:.1f}s; "
      f"final live MAE {val_mae_degC(model.trainable_parameters(), probe):.3f} degC, "
      f"polyak MAE {val_mae_degC(ema_w, probe):.3f} degC (constant forecast {baseline:.3f})")
