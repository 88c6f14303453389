"""JAX-style functional training: params as a pytree, hand-written SGD via tree_map."""
import sys

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

mx.random.seed(3)
N, D, C = 1024, 16, 4
centers = mx.random.normal((C, D)) * 2.0
labels = mx.random.randint(0, C, (N,))
inputs = centers[labels] + mx.random.normal((N, D))

net = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, C))
params = net.parameters()


def loss_fn(params, x, y):
    net.update(params)
    return nn.losses.cross_entropy(net(x), y, reduction="mean")


grad_fn = mx.value_and_grad(loss_fn)
LR, STEPS, BS = 0.1, 300, 64
for step in range(STEPS):
    idx = mx.random.randint(0, N, (BS,))
    loss, grads = grad_fn(params=params, x=inputs[idx], y=labels[idx])
    params = tree_map(lambda p, g: p - LR * g, params, grads)
    mx.eval(params, loss)
    done = int(30 * (step + 1) / STEPS)
    bar = "#" * done + "." * (30 - done)
    sys.stdout.write(f"\r[{bar}] {step + 1}/{STEPS} loss={loss.item():.4f}")
    if (step + 1) % 50 == 0:
        sys.stdout.write("\n")
sys.stdout.flush()
