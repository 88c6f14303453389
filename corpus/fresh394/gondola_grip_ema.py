"""Detachable ropeway grips: 3-way grip condition (sound / worn jaw / spring fatigue)
from 9 synthetic test-bench readings taken when a carrier passes the grip tester.

Two sets of weights are scored on the same report: the live weights and a slow
Polyak average of them (decay 0.998, starts as a copy of the untrained weights).
The learning rate restarts twice (cosine cycles of 300, 600, 1200 steps).
Output is one YAML document per report.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(2394)


def bench(n):
    c = rng.integers(0, 3, n)
    force = rng.normal(5.2, 0.25, n) - 0.55 * (c == 1) - 0.35 * (c == 2)
    spring = rng.normal(1.0, 0.05, n) - 0.12 * (c == 2)
    jaw_gap = rng.normal(0.30, 0.04, n) + 0.09 * (c == 1)
    slip = rng.gamma(2.0, 0.5, n) * (1 + 0.8 * (c > 0))
    temp = rng.normal(-3, 6, n)
    force = force + 0.02 * temp
    speed = rng.normal(5.0, 0.3, n)
    hours = rng.uniform(0, 9000, n)
    spring = spring - 1e-5 * hours
    vib = rng.normal(0, 1, n) + 0.4 * (c == 2)
    lube = rng.uniform(0, 1, n)
    X = np.stack([force, spring, jaw_gap, np.log1p(slip), temp, speed,
                  hours / 1000, vib, lube], 1).astype(np.float32)
    return X, c.astype(np.int32)


Xtr, ytr = bench(9000)
Xte, yte = bench(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd)
Xte = mx.array((Xte - mu) / sd)
ytr, yte_m = mx.array(ytr), mx.array(yte)


def build():
    return nn.Sequential(nn.Linear(9, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 3))


mx.random.seed(5)
live = build()
polyak = build()
polyak.update(tree_map(lambda a: mx.array(a), live.parameters()))
DECAY = 0.998
mx.eval(live.parameters(), polyak.parameters())


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def score(model):
    logits = model(Xte)
    nats = ce(model, Xte, yte_m).item()
    acc = (mx.argmax(logits, 1) == yte_m).mean().item()
    return nats, acc


cycles = [300, 600, 1200]
sched = optim.join_schedules([optim.cosine_decay(0.08, c, 1e-4) for c in cycles],
                             [300, 900])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
vg = nn.value_and_grad(live, ce)

BATCH, TOTAL = 120, sum(cycles)
restarts = {301, 901}
report_at = set(range(150, TOTAL + 1, 150)) | restarts


def doc(step, lr, run_loss):
    ln, la = score(live)
    pn, pa = score(polyak)
    print("---")
    print(f"step: {step}")
    print(f"lr: {lr:.5f}")
    print(f"train_ce_running: {run_loss if run_loss is None else round(run_loss, 4)}")
    print("test:")
    print(f"  live:   {{ce_nats: {ln:.4f}, acc_pct: {100 * la:.2f}}}")
    print(f"  polyak: {{ce_nats: {pn:.4f}, acc_pct: {100 * pa:.2f}}}")
    if step in restarts:
        print("note: lr restart")


print(f"# grips: 9000 train / 3000 test, chance ce {math.log(3):.4f} nats")
doc(0, float(sched(mx.array(0))), None)
t0 = time.perf_counter()
perm_rng = np.random.default_rng(7)
run = []
for step in range(1, TOTAL + 1):
    idx = mx.array(perm_rng.integers(0, 9000, BATCH))
    lr_used = float(sched(opt.step))
    loss, g = vg(live, Xtr[idx], ytr[idx])
    opt.update(live, g)
    polyak.update(tree_map(lambda p, q: DECAY * p + (1 - DECAY) * q,
                           polyak.parameters(), live.parameters()))
    mx.eval(loss, live.parameters(), polyak.parameters(), opt.state)
    run.append(loss.item())
    if step in report_at:
        doc(step, lr_used, float(np.mean(run[-150:])))
print("---")
print(f"done: {{steps: {TOTAL}, secs: {time.perf_counter() - t0:.1f}}}")
