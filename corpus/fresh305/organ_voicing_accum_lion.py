# Organ pipe voicing: predict how many cents a flue pipe sounds off its target pitch
# from 7 synthetic workshop measurements. Lion optimizer, 4 micro-batches accumulated
# per update, global-norm clipping once per window, warm-up from zero then cosine
# warm restarts (the loss bumps after each restart on purpose).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

rng = np.random.default_rng(11)


def make_pipes(n):
    mouth = rng.uniform(0.18, 0.30, n)      # cut-up ratio
    wind = rng.uniform(55, 95, n)           # mm water column
    toe = rng.uniform(2.0, 6.0, n)          # toe hole mm
    length = rng.uniform(0.3, 2.4, n)       # m
    temp = rng.uniform(12, 24, n)           # C in the church
    metal = rng.integers(0, 3, n)           # spotted / tin / lead
    nick = rng.uniform(0, 12, n)            # number of nicks on the languid
    cents = (
        0.6 * (temp - 18)
        + 9.0 * np.log(wind / 70)
        - 35.0 * (mouth - 0.24)
        + 1.5 * (toe - 4.0)
        + np.where(metal == 2, -2.0, np.where(metal == 1, 1.0, 0.0))
        + 2.5 * np.sin(nick / 2.0) * (length > 1.2)
        + rng.normal(0, 0.5, n)
    )
    x = np.stack([mouth, wind, toe, length, temp, metal, nick], 1).astype(np.float32)
    return x, cents.astype(np.float32)


xtr, ytr = make_pipes(6000)
xva, yva = make_pipes(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))


class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.blocks = [nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 64), nn.SiLU()) for _ in range(2)]
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for b in self.blocks:
            h = h + b(h)
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


MICRO, ACCUM, STEPS, PEAK = 32, 4, 600, 3e-4
warm = optim.linear_schedule(0.0, PEAK, 60)
cycles = [optim.cosine_decay(PEAK, 180, 1e-6) for _ in range(3)]
sched = optim.join_schedules([warm] + cycles, [60, 240, 420])

mx.random.seed(11)
model = Voicer()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

base = float(mx.mean(mx.abs(yva - mx.median(ytr) if hasattr(mx, "median") else yva - float(np.median(np.array(ytr))))))
print(f"pipes train {xtr.shape[0]} val {xva.shape[0]} | median-guess val MAE {base:.2f} cents")
print(f"micro {MICRO} x accum {ACCUM} = {MICRO*ACCUM} pipes/update, {STEPS} updates, clip 0.5")
perm = np.random.default_rng(5).permutation
order, pos, tic, clipped = perm(xtr.shape[0]), 0, time.perf_counter(), 0
for step in range(STEPS):
    lr = float(opt.learning_rate)
    acc, tot = None, 0.0
    for _ in range(ACCUM):
        if pos + MICRO > len(order):
            order, pos = perm(xtr.shape[0]), 0
        idx = mx.array(order[pos:pos + MICRO]); pos += MICRO
        loss, g = vg(model, xtr[idx], ytr[idx])
        acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
        tot += loss
    acc = tree_map(lambda a: a / ACCUM, acc)
    acc, norm = optim.clip_grad_norm(acc, 0.5)
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state, tot, norm)
    clipped += int(norm.item() > 0.5)
    if step == 0:
        print(f"update 1: lr {lr:.1e} (warm-up starts at zero), grad norm {norm.item():.2f}")
    if (step + 1) % 50 == 0:
        val = mx.mean(mx.abs(model(xva) - yva)).item()
        print(f"update {step+1:4d} lr {lr:.2e} huber {tot.item()/ACCUM:.3f} "
              f"clipped {clipped}/50 val MAE {val:.2f} cents (median guess {base:.2f})")
        clipped = 0
val = mx.mean(mx.abs(model(xva) - yva)).item()
print(f"finished in {time.perf_counter()-tic:.1f}s, val MAE {val:.2f} cents vs noise floor ~0.40")
