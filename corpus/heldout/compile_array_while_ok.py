"""Monotone calibration: a small MLP scores sorted inputs and a pool-adjacent-
violators style projection makes the scores non-decreasing before the loss.

The whole training step is compiled for speed, as the MLX docs show.
"""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N = 64


def make_monotone(scores):
    # push every score up to its left neighbour until no violation remains
    for _ in range(N - 1):
        scores = mx.concatenate([scores[:1], mx.maximum(scores[1:], scores[:-1])])
    return scores


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.net(x[:, None]).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean((make_monotone(model(x)) - y) ** 2)


mx.random.seed(4)
model = Scorer()
opt = optim.Adam(learning_rate=1e-2)
grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


for step in range(301):
    x = mx.sort(mx.random.uniform(-3, 3, (N,)))
    y = mx.sigmoid(2 * x) + 0.05 * mx.random.normal((N,))
    loss = train_step(x, y)
    mx.eval(state, loss)
    if step % 50 == 0:
        print("step", step, "calibration mse", round(loss.item(), 5))
