"""Two-moons classifier trained with a hand-written SGD+momentum update (no mlx.optimizers)."""
import math

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

mx.random.seed(5)
N = 2000
t = mx.random.uniform(0, math.pi, (N,))
upper = mx.random.uniform(0, 1, (N,)) < 0.5
x = mx.where(upper, mx.cos(t), 1 - mx.cos(t))
y = mx.where(upper, mx.sin(t), 0.5 - mx.sin(t))
X = mx.stack([x, y], axis=1) + 0.1 * mx.random.normal((N, 2))
Y = upper.astype(mx.int32)

net = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
mx.eval(net.parameters())
velocity = tree_map(mx.zeros_like, net.trainable_parameters())
LR, MOMENTUM, TOTAL = 0.05, 0.9, 1500


def objective(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


grad_fn = nn.value_and_grad(net, objective)
step = 0
while step < TOTAL:
    idx = mx.random.randint(0, N, (64,))
    err, grads = grad_fn(net, X[idx], Y[idx])
    velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
    net.update(tree_map(lambda p, v: p - LR * v, net.trainable_parameters(), velocity))
    mx.eval(err, net.parameters(), velocity)
    step += 1
    if step % 100 == 0:
        acc = (net(X).argmax(-1) == Y).mean().item()
        print(f"{100 * step / TOTAL:5.1f}% done  err={err.item():.4f}  acc={acc:.3f}")
