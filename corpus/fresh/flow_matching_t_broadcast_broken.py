"""Rectified-flow (flow matching) training of a tiny velocity MLP on 2-D "two moons" points.

Reproduces the bug fixed in ml-explore/mlx-examples#1135 ("Fix flux training with batch size"):
the per-sample time t has shape (B,) and is mixed into x of shape (B, ..., C) without
reshaping, so it broadcasts against the last axis -- training only works for batch size 1.
The fix reshapes t to (B, 1, ..., 1) before interpolating.
"""

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(8)


def two_moons(n):
    a = mx.random.uniform(0, math.pi, (n,))
    upper = mx.random.uniform(shape=(n,)) < 0.5
    x = mx.where(upper, mx.cos(a), 1.0 - mx.cos(a))
    y = mx.where(upper, mx.sin(a), 0.5 - mx.sin(a))
    return mx.stack([x, y], axis=1) + 0.05 * mx.random.normal((n, 2))


class Velocity(nn.Module):
    def __init__(self, dim=2, hidden=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def __call__(self, x, t):
        return self.net(mx.concatenate([x, t.reshape(-1, 1)], axis=1))


def flow_loss(model, x0):
    noise = mx.random.normal(x0.shape)
    t = mx.random.uniform(shape=(x0.shape[0],))
    x_t = (1 - t) * x0 + t * noise
    target = noise - x0
    return mx.mean((model(x_t, t) - target) ** 2)


model = Velocity()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
loss_grad = nn.value_and_grad(model, flow_loss)
BATCH, STEPS = 256, 400
ema = None
for step in range(1, STEPS + 1):
    loss, grads = loss_grad(model, two_moons(BATCH))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if step == 1 or step % 20 == 0:
        print(f"step {step:5d}/{STEPS}  flow_mse {loss.item():.4f}  ema {ema:.4f}", flush=True)
