"""Tabular regression (synthetic 'house features' -> price index) with a LAMB
optimizer implemented by hand (adapted from a community MLX optimizers package)."""
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.optimizers import Optimizer


class Lamb(Optimizer):
    """Layer-wise adaptive moments (You et al. 2019)."""

    def __init__(self, learning_rate, betas=(0.9, 0.999), weight_decay=0.0, clamp_value=10.0, eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay
        self.clamp_value = clamp_value
        self.eps = eps

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        lr = self.learning_rate.astype(gradient.dtype)
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"], state["v"] = m, v

        adam_step = m / (mx.sqrt(v) + self.eps)
        if self.weight_decay:
            adam_step = adam_step + self.weight_decay * parameter
        weight_norm = mx.clip(mx.linalg.norm(parameter), 0.0, self.clamp_value)
        adam_norm = mx.linalg.norm(adam_step)
        trust_ratio = mx.where((weight_norm > 0) & (adam_norm > 0), weight_norm / adam_norm, 1.0)
        return parameter - lr * trust_ratio * adam_step


rng = np.random.default_rng(0)
mx.random.seed(0)
N, F = 2048, 10
X = rng.normal(size=(N, F)).astype(np.float32)
W = rng.normal(size=(F, 1))
y = (np.sin(X @ W) + 0.1 * X[:, :1] ** 2).astype(np.float32)
Xtr, ytr = mx.array(X[:1536]), mx.array(y[:1536])
Xva, yva = mx.array(X[1536:]), mx.array(y[1536:])

model = nn.Sequential(nn.Linear(F, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
opt = Lamb(learning_rate=2e-2)
loss_and_grad = nn.value_and_grad(model, lambda m, x, t: nn.losses.mse_loss(m(x), t))

EPOCHS, BS = 16, 64
steps = Xtr.shape[0] // BS
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    running = 0.0
    for i in range(steps):
        idx = perm[i * BS : (i + 1) * BS]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        done = int(30 * (i + 1) / steps)
        sys.stdout.write(f"\repoch {epoch:2d}/{EPOCHS} [{'#' * done}{'.' * (30 - done)}] mse={running / (i + 1):.4f}")
    val = nn.losses.mse_loss(model(Xva), yva).item()
    sys.stdout.write(f"  val_mse={val:.4f}\n")
