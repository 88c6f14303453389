"""Reindeer herding: classify the day's behaviour of a collared animal
(grazing / resting / trekking / harassed) from 8 collar summaries.
Written data-parallel with mx.distributed (gradients and metrics all_sum'd);
run here on a single rank. Curriculum: clear days first, then mixed days."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

group = mx.distributed.init()
rank, size = group.rank(), group.size()
rng = np.random.default_rng(100 + rank)
D, K = 8, 4
centres = np.random.default_rng(0).normal(scale=1.6, size=(K, D)).astype(np.float32)


def make(n, blur):
    y = rng.integers(0, K, n)
    x = centres[y] + rng.normal(scale=1.0 + blur, size=(n, D)).astype(np.float32)
    x[:, 0] = np.abs(x[:, 0])  # daily km is non-negative
    y = y.astype(np.int32)
    noisy = rng.random(n) < 0.15 * blur
    y[noisy] = rng.integers(0, K, noisy.sum())
    return x.astype(np.float32), y


x_easy, y_easy = make(3000, 0.0)
x_hard, y_hard = make(3000, 1.0)
x_test, y_test = make(2000, 0.5)

model = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, K))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=optim.step_decay(2e-3, 0.5, 400), weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    g = tree_map(lambda t: mx.distributed.all_sum(t, group=group) / size, g)
    opt.update(model, g)
    return mx.distributed.all_sum(loss, group=group) / size


def global_acc(x, y):
    hits = (mx.argmax(model(mx.array(x)), 1) == mx.array(y)).sum()
    tot = mx.distributed.all_sum(mx.array([hits.astype(mx.float32), float(len(y))]), group=group)
    return (tot[0] / tot[1]).item()


def chance_acc(y):
    return np.bincount(y, minlength=K).max() / len(y)


if rank == 0:
    print(f"world size {size}; test chance {chance_acc(y_test):.3f}")
t0 = time.time()
stages = [("clear days", x_easy, y_easy, 500), ("clear+mixed days",
          np.concatenate([x_easy, x_hard]), np.concatenate([y_easy, y_hard]), 700)]
s = 0
for name, xs, ys, n in stages:
    if rank == 0:
        print(f"-- stage: {name} ({len(ys)} days)")
    run = []
    for _ in range(n):
        idx = rng.integers(0, len(ys), 128)
        loss = step(mx.array(xs[idx]), mx.array(ys[idx]))
        mx.eval(state, loss)
        run.append(loss.item())
        s += 1
        if s % 100 == 0 and rank == 0:
            print(f"step {s:5d}  train xent {np.mean(run):.4f}  test acc {global_acc(x_test, y_test):.3f}")
            run = []
if rank == 0:
    print(f"finished {s} steps in {time.time() - t0:.1f}s; clear-day acc {global_acc(x_easy, y_easy):.3f}, "
          f"test acc {global_acc(x_test, y_test):.3f} (chance {chance_acc(y_test):.3f})")
