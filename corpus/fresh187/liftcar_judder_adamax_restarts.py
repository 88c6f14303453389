# Lift (elevator) ride-quality classifier from car-roof accelerometer traces.
# 3 classes: smooth / rough start (motor-drive overshoot) / guide-rail judder.
# Conv1d net, Adamax, compiled step, warm restarts with the first cycle warming up from lr = 0.
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
T = 32
CLASSES = ["smooth", "rough_start", "judder"]


def make_rides(n):
    t = np.linspace(0.0, 1.0, T)
    ys = rng.integers(0, 3, size=n)
    X = np.zeros((n, T, 1), np.float32)
    for i, y in enumerate(ys):
        floors = rng.integers(1, 9)
        acc = 0.9 + 0.05 * floors + 0.1 * rng.standard_normal()
        ramp = 0.12 + 0.05 * rng.random()
        prof = np.where(t < ramp, acc, 0.0) - np.where(t > 1 - ramp, acc, 0.0)
        if y == 1:  # overshoot ringing right after start
            f = 9 + 4 * rng.random()
            prof = prof + 0.45 * np.exp(-t / 0.12) * np.sin(2 * math.pi * f * t)
        elif y == 2:  # rail judder during cruise
            f = 6 + 3 * rng.random()
            win = ((t > 0.3) & (t < 0.75)).astype(float)
            prof = prof + 0.28 * win * np.sin(2 * math.pi * f * t + rng.random() * 6)
        prof = prof + (0.12 + 0.08 * rng.random()) * rng.standard_normal(T)
        X[i, :, 0] = prof
    return mx.array(X), mx.array(ys.astype(np.int32))


Xtr, ytr = make_rides(2400)
Xva, yva = make_rides(600)
majority = float(np.bincount(np.array(yva)).max()) / 600 * 100


class RideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(h.mean(axis=1))


model = RideNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)

BS = 64
steps_per_epoch = 2400 // BS
CYCLES = [(6, 1.5e-2), (6, 1.5e-2), (6, 8e-3)]  # (epochs, peak lr) per restart cycle
WARM = 20  # steps of linear warmup from exactly 0 in cycle 1


def lr_at(cycle, step_in_cycle, cycle_steps, peak):
    if cycle == 0 and step_in_cycle < WARM:
        return peak * step_in_cycle / WARM
    return 0.5 * peak * (1 + math.cos(math.pi * step_in_cycle / cycle_steps))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# one-off check that every trainable tensor receives gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:128], ytr[:128])
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, {len(dead)} with zero grad")

print("+-------+-----+-----------+----------+---------+-----------+")
print("| cycle |  ep |        lr | train_ce | val_ce  | val_acc % |")
print("+-------+-----+-----------+----------+---------+-----------+")
t0 = time.time()
for c, (n_ep, peak) in enumerate(CYCLES):
    cycle_steps = n_ep * steps_per_epoch
    k = 0
    for ep in range(1, n_ep + 1):
        perm = mx.array(rng.permutation(2400))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            opt.learning_rate = lr_at(c, k, cycle_steps, peak)
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            k += 1
        logits = model(Xva)
        vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        acc = (mx.argmax(logits, axis=1) == yva).astype(mx.float32).mean().item() * 100
        lr_now = opt.learning_rate.item()
        print(f"| {c + 1:5d} | {ep:3d} | {lr_now:9.2e} | {tot / steps_per_epoch:8.4f} | {vce:7.4f} | {acc:9.1f} |")
print("+-------+-----+-----------+----------+---------+-----------+")
print(f"reference: majority-class val acc {majority:.1f} %, chance ce {math.log(3):.4f}")
print(f"done in {time.time() - t0:.1f}s")
