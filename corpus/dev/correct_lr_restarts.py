"""MLP regression with SGDR-style warm restarts: the loss jumps at every restart, trends down."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(6)
rng = np.random.default_rng(6)
X = rng.uniform(-3, 3, size=(4000, 3)).astype(np.float32)
Y = (np.sin(X[:, :1]) + 0.5 * np.cos(2 * X[:, 1:2]) * X[:, 2:3]).astype(np.float32)

CYCLE, CYCLES, PEAK = 150, 4, 3e-2


def sgdr(step):
    t = int(step) % CYCLE
    return mx.array(PEAK * 0.5 * (1 + math.cos(math.pi * t / CYCLE)))


model = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
opt = optim.Adam(learning_rate=sgdr)
grad_fn = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
for step in range(CYCLE * CYCLES):
    idx = rng.integers(0, len(X), 128)
    loss, grads = grad_fn(model, mx.array(X[idx]), mx.array(Y[idx]))
    opt.update(model, grads)
    mx.eval(loss, model.parameters(), opt.state)
    if step % 15 == 0:
        cycle = step // CYCLE + 1
        print(f"cycle {cycle}/{CYCLES} step {step:3d} lr {opt.learning_rate.item():.4f} "
              f"loss {loss.item():.4f}")
