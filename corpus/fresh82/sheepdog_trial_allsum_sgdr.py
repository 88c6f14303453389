"""Sheepdog trial outcomes: clean pen / partial / fail from course readings.
Gradients go through mx.distributed.all_sum (one process here, same code on a
cluster), SGD with momentum under a hand-rolled SGDR (warm restarts) schedule."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)


def make_runs(n):
    wind = rng.uniform(0, 30, n)            # km/h
    sheep_age = rng.uniform(1, 8, n)        # years
    dog_age = rng.uniform(1.5, 12, n)
    handler_yrs = rng.gamma(2.0, 5.0, n)
    outrun_m = rng.uniform(200, 600, n)
    flock = rng.integers(3, 7, n).astype(np.float64)
    ground_wet = rng.uniform(0, 1, n)
    skill = (0.08 * handler_yrs - 0.05 * (dog_age - 5.5) ** 2 - 0.04 * wind
             - 0.003 * (outrun_m - 400) - 0.25 * (flock - 5) + 0.2 * sheep_age
             - 0.8 * ground_wet * (wind > 15))
    skill = skill + rng.normal(0, 0.35, n)
    y = np.where(skill > 0.6, 0, np.where(skill > -0.6, 1, 2))
    X = np.stack([wind, sheep_age, dog_age, handler_yrs, outrun_m, flock, ground_wet], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = make_runs(12000)
Xte, yte = make_runs(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xte = (Xte - mu) / sd
Xte_m, yte_m = mx.array(Xte), mx.array(yte)


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 192)
        self.b = nn.Linear(192, 192)
        self.out = nn.Linear(192, 3)

    def __call__(self, x):
        return self.out(nn.relu(self.b(nn.relu(self.a(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def sgdr_lr(step, base=0.08, floor=0.002, first=300, mult=2):
    """cosine with warm restarts; returns (lr, cycle index)"""
    length, start, cycle = first, 0, 0
    while step >= start + length:
        start += length
        length *= mult
        cycle += 1
    t = (step - start) / length
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * t)), cycle


def evaluate(model):
    logits = model(Xte_m)
    ce = nn.losses.cross_entropy(logits, yte_m, reduction="mean")
    err = mx.mean(mx.argmax(logits, axis=1) != yte_m)
    mx.eval(ce, err)
    return ce.item(), 100.0 * err.item()


group = mx.distributed.init()
world = group.size()

mx.random.seed(3)
model = Scorer()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.08, momentum=0.9)
grad_fn = nn.value_and_grad(model, loss_fn)

print("# runs\ttrain=%d\ttest=%d\tclass_share=%s\tworld=%d" % (
    len(ytr), len(yte), np.round(np.bincount(ytr) / len(ytr), 3).tolist(), world))
ce0, err0 = evaluate(model)
print("step\tcycle\tlr\ttrain_ce\ttest_ce\ttest_err_pct\tsecs")
print("0\t-\t-\t-\t%.4f\t%.1f\t0.0" % (ce0, err0))

total_steps = 2100   # cycles of 300, 600, 1200 steps
batch = 128
t0 = time.time()
window = []
perm, cursor = rng.permutation(len(ytr)), 0
for step in range(total_steps):
    if cursor + batch > len(perm):
        perm, cursor = rng.permutation(len(ytr)), 0
    idx = mx.array(perm[cursor:cursor + batch])
    cursor += batch
    xb, yb = mx.array(Xtr)[idx], mx.array(ytr)[idx]
    loss, grads = grad_fn(model, xb, yb)
    # average over ranks (a no-op sum with one process)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
    if step == 0:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if mx.all(g == 0).item()]
        print("# first step: %d gradient leaves, all-zero: %s" % (len(leaves), zero or "none"))
    lr, cycle = sgdr_lr(step)
    opt.learning_rate = lr
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    s = step + 1
    if s in (1, 25) or s % 150 == 0:
        ce, err = evaluate(model)
        print("%d\t%d\t%.4f\t%.4f\t%.4f\t%.1f\t%.1f" % (
            s, cycle, lr, float(np.mean(window)), ce, err, time.time() - t0))
        window = []

ce, err = evaluate(model)
print("# done: test ce %.4f, test error %.1f%% (untrained %.1f%%), %d restarts" % (ce, err, err0, 2))
