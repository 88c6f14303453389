"""Volcano alert-level classifier (GREEN/YELLOW/ORANGE/RED) from tremor features.

Written to run data-parallel under `mlx.launch`; run plainly it is a single
process and mx.distributed gives a group of size 1. SGD with warm restarts
(SGDR): the lr jumps back to its peak at each restart.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

LEVELS = ["GREEN", "YELLOW", "ORANGE", "RED"]

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()


def make_station_days(n, rng):
    # features: log RSAM, LP events/day, log SO2 flux, tilt rate, b-value, depth of swarm
    unrest = rng.gamma(1.4, 1.0, size=n)
    log_rsam = 1.5 + 0.8 * unrest + rng.normal(0, 0.5, n)
    lp = rng.poisson(2 + 6 * unrest)
    so2 = 2.0 + 0.6 * unrest + rng.normal(0, 0.6, n)
    tilt = 0.3 * unrest ** 1.5 + rng.normal(0, 0.4, n)
    bval = 1.1 - 0.12 * unrest + rng.normal(0, 0.1, n)
    depth = 8.0 - 1.5 * unrest + rng.normal(0, 1.2, n)
    X = np.stack([log_rsam, np.log1p(lp), so2, tilt, bval, depth], 1).astype(np.float32)
    score = unrest + 0.3 * rng.normal(size=n)
    y = np.digitize(score, [1.0, 2.2, 3.6]).astype(np.int32)
    return X, y


rng = np.random.default_rng(73)
Xtr, ytr = make_station_days(12000, rng)
Xva, yva = make_station_days(2000, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
# each rank takes its own shard of the training days
Xtr, ytr = Xtr[RANK::WORLD], ytr[RANK::WORLD]


class AlertNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.relu(self.norm(self.inp(x)))
        h = nn.relu(self.hid(h))
        return self.out(h)


mx.random.seed(5)
model = AlertNet()
mx.eval(model.parameters())

PEAK, FLOOR, BATCH = 0.08, 1e-4, 64
CYCLES = [2, 4, 8]   # epochs per SGDR cycle (T_mult = 2)
steps_per_epoch = len(ytr) // BATCH
opt = optim.SGD(learning_rate=PEAK, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


def evaluate():
    logits = model(mx.array(Xva))
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean")
    acc = mx.mean(mx.argmax(logits, 1) == mx.array(yva))
    return ce.item(), acc.item()


def out(*cols):
    if RANK == 0:
        print("\t".join(str(c) for c in cols), flush=True)


out("# ranks", WORLD, "train_days_per_rank", len(ytr), "val_days", len(yva))
out("# chance_ce", round(math.log(4), 4), "majority_acc",
    round(float(np.bincount(yva).max() / len(yva)), 4))
out("epoch", "cycle", "lr_start", "lr_end", "train_ce", "val_ce", "val_acc", "secs")
ce0, acc0 = evaluate()
out(0, "-", "-", "-", "-", round(ce0, 4), round(acc0, 4), 0.0)

t0 = time.time()
epoch = 0
first = True
for c, T in enumerate(CYCLES):
    cycle_steps = T * steps_per_epoch
    k = 0
    for _ in range(T):
        epoch += 1
        perm = np.random.default_rng(1000 + epoch).permutation(len(ytr))
        run, nb = 0.0, 0
        lr_first = None
        for b in range(steps_per_epoch):
            lr = FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * k / cycle_steps))
            k += 1
            opt.learning_rate = lr
            lr_first = lr if lr_first is None else lr_first
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            grads = allreduce_mean(grads)
            if first:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if mx.any(g != 0).item())
                out("# grad_leaves_nonzero", f"{nz}/{len(flat)}")
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
        ce, acc = evaluate()
        out(epoch, c + 1, f"{lr_first:.4g}", f"{lr:.4g}", round(run / nb, 4),
            round(ce, 4), round(acc, 4), round(time.time() - t0, 1))

logits = model(mx.array(Xva))
pred = np.array(mx.argmax(logits, 1))
for i, name in enumerate(LEVELS):
    m = yva == i
    out("# recall", name, int(m.sum()), round(float((pred[m] == i).mean()), 4))
out("# done", round(time.time() - t0, 1))
