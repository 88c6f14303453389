"""Sailmaking: predict sailcloth stretch (%) at a test load from cloth specs.

SGD with momentum under SGDR (cosine warm restarts, cycle length doubling),
lr written into the optimizer before every step; compiled step.
Reports are JSON lines on stdout.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_cloth(n):
    weave = rng.uniform(20, 60, n)          # threads per cm
    resin = rng.uniform(0, 12, n)           # % resin finish
    load = rng.uniform(50, 400, n)          # N per 5 cm strip
    uv = rng.uniform(0, 2000, n)            # hours of sun exposure
    laminate = rng.integers(0, 2, n).astype(np.float64)
    stretch = (0.9 * load / weave * (1.0 - 0.04 * resin) * (1.0 - 0.55 * laminate)
               * (1.0 + 0.25 * np.tanh(uv / 800.0))
               + 0.15 * np.sin(resin) + rng.normal(0, 0.08, n))
    X = np.stack([weave, resin, load, uv, laminate], 1)
    return X.astype(np.float32), stretch.astype(np.float32)


Xtr, ytr = make_cloth(9000)
Xte, yte = make_cloth(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_n = mx.array((Xtr - mu) / sd)
Xte_n = mx.array((Xte - mu) / sd)
ytr_n = mx.array((ytr - ymu) / ysd)
yte_np = yte


class StretchNet(nn.Module):
    def __init__(self, d_in=5, width=64):
        super().__init__()
        self.layers = [nn.Linear(d_in, width), nn.Linear(width, width)]
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        for layer in self.layers:
            x = nn.gelu(layer(x))
        return self.out(x).squeeze(-1)


def sgdr_lr(step, base=0.05, floor=5e-4, first=300, mult=2):
    """Cosine annealing with warm restarts; returns (lr, cycle index)."""
    start, length, cycle = 0, first, 0
    while step >= start + length:
        start += length
        length *= mult
        cycle += 1
    t = (step - start) / length
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t)), cycle


net = StretchNet()
mx.eval(net.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_and_grad = nn.value_and_grad(net, loss_fn)


def test_mae():
    pred = np.array(net(Xte_n)) * ysd + ymu
    return float(np.mean(np.abs(pred - yte_np)))


def emit(**rec):
    print(json.dumps(rec), flush=True)


emit(event="data", train=len(ytr), test=len(yte),
     baseline_mae=round(float(np.mean(np.abs(yte - ytr.mean()))), 4))
emit(event="untrained", test_mae_pct=round(test_mae(), 4))

# eager gradient check on one batch before compiling anything
idx0 = mx.array(rng.permutation(len(ytr))[:128])
_, g0 = loss_and_grad(net, Xtr_n[idx0], ytr_n[idx0])
leaves = tree_flatten(g0)
zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
emit(event="grad_check", leaves=len(leaves), zero=zero)

state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(net, x, y)
    opt.update(net, grads)
    return loss


TOTAL = 300 + 600 + 1200   # three SGDR cycles
BATCH = 128
order = rng.permutation(len(ytr))
cursor = 0
window = []
t0 = time.time()
for step in range(TOTAL):
    lr, cycle = sgdr_lr(step)
    opt.learning_rate = lr
    if cursor + BATCH > len(order):
        order = rng.permutation(len(ytr))
        cursor = 0
    idx = mx.array(order[cursor:cursor + BATCH])
    cursor += BATCH
    loss = train_step(Xtr_n[idx], ytr_n[idx])
    mx.eval(loss, state)
    window.append(loss.item())
    restart_next = sgdr_lr(step + 1)[1] != cycle
    if (step + 1) % 150 == 0 or restart_next or step == 0:
        emit(event="train", step=step + 1, cycle=cycle, lr=round(lr, 5),
             train_mse_std=round(float(np.mean(window)), 5),
             test_mae_pct=round(test_mae(), 4),
             secs=round(time.time() - t0, 1))
        window = []

emit(event="done", steps=TOTAL, test_mae_pct=round(test_mae(), 4),
     noise_floor_mae=round(0.08 * math.sqrt(2 / math.pi), 4))
