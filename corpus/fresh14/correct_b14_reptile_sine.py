"""Reptile meta-learning on random sine-wave regression tasks.
Each meta-iteration: copy the meta-weights, run k inner SGD steps on one task,
then move the meta-weights a fraction of the way toward the adapted weights.
The logged pre-adaptation loss is per *new random task*, so it stays noisy and
high; the post-adaptation loss on held-out tasks is what improves."""
import math
import random
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

random.seed(5)
mx.random.seed(5)


def make_task():
    amp, phase = random.uniform(0.5, 4.0), random.uniform(0, math.pi)
    def sample(n):
        x = mx.random.uniform(-5, 5, (n, 1))
        return x, amp * mx.sin(x + phase)
    return sample


model = nn.Sequential(nn.Linear(1, 40), nn.Tanh(), nn.Linear(40, 40), nn.Tanh(), nn.Linear(40, 1))
mx.eval(model.parameters())


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, mse)
INNER_STEPS, INNER_LR, META_LR, META_ITERS = 8, 0.02, 0.1, 600


def adapt(sample, steps):
    for _ in range(steps):
        x, y = sample(10)
        _, g = grad_fn(model, x, y)
        model.update(tree_map(lambda p, gg: p - INNER_LR * gg, model.parameters(), g))
        mx.eval(model.parameters())


eval_tasks = [make_task() for _ in range(8)]
eval_sets = [(t, t(50)) for t in eval_tasks]


def eval_after_adapt():
    meta = model.parameters()
    pre, post = 0.0, 0.0
    for task, (xq, yq) in eval_sets:
        pre += mse(model, xq, yq).item()
        adapt(task, INNER_STEPS)
        post += mse(model, xq, yq).item()
        model.update(meta)
    return pre / len(eval_sets), post / len(eval_sets)


print("| meta-iter | task loss (pre) | eval pre | eval post-adapt |")
print("|----------:|----------------:|---------:|----------------:|")
for it in range(1, META_ITERS + 1):
    task = make_task()
    meta = model.parameters()
    xq, yq = task(50)
    pre_loss = mse(model, xq, yq).item()
    adapt(task, INNER_STEPS)
    adapted = model.parameters()
    new_meta = tree_map(lambda m, a: m + META_LR * (a - m), meta, adapted)
    model.update(new_meta)
    mx.eval(model.parameters())
    if it % 60 == 0 or it == 1:
        ep, epa = eval_after_adapt()
        print(f"| {it:9d} | {pre_loss:15.4f} | {ep:8.4f} | {epa:15.4f} |")
