# Kiln power regression: predict (normalised) kiln wattage from 10 sensor
# readings with a small GELU MLP, trained with a hand-written AdamW.
import time
from typing import List

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Optimizer


class AdamW(Optimizer):
    r"""Implementation of the AdamW optimizer."""

    def __init__(
        self,
        learning_rate: float,
        betas: List[float] = [0.9, 0.999],
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        super().__init__()

        self.learning_rate = learning_rate
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter: mx.array, state: dict):
        pass

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict):
        """Performs the AdamW parameter update and stores :math:`v` and
        :math:`m` in the optimizer state."""
        lr = self.learning_rate
        b1, b2 = self.betas
        eps = self.eps
        wd = self.weight_decay

        m = state.get("m", gradient)
        v = state.get("v", mx.square(gradient))
        m = b1 * m + (1 - b1) * gradient
        v = b2 * v + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v

        return parameter - lr * (m / (mx.sqrt(v) + eps) + wd)


mx.random.seed(0)
N, D = 2048, 10
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1))
y = mx.sin(X @ w_true) + 0.5 * X[:, :1] ** 2 + 0.1 * mx.random.normal((N, 1))
X_tr, y_tr, X_va, y_va = X[:1536], y[:1536], X[1536:], y[1536:]

model = nn.Sequential(
    nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1)
)
mx.eval(model.parameters())
optimizer = AdamW(learning_rate=3e-3, weight_decay=0.3)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


loss_and_grad = nn.value_and_grad(model, loss_fn)

print(f"baseline val mse (predict mean): {mx.mean((y_va - y_tr.mean()) ** 2).item():.4f}")
tic = time.time()
window = []
for it in range(1, 2401):
    idx = mx.random.randint(0, X_tr.shape[0], (64,))
    loss, grads = loss_and_grad(model, X_tr[idx], y_tr[idx])
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    window.append(loss.item())
    if it % 200 == 0:
        val = loss_fn(model, X_va, y_va).item()
        print(f"iter {it:4d}  train_mse {sum(window) / len(window):.4f}  val_mse {val:.4f}")
        window = []
print(f"finished 2400 iters in {time.time() - tic:.1f}s")
