"""Tabular regression whose mini-batches are drawn with a NumPy permutation.

Reproduces lyogavin/airllm#167 ("mlx embedding indexing failure - ValueError: Cannot index mlx
array using the given type."): an MLX array indexed with a NumPy array raises; the indices have
to be converted with mx.array(...) first.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
N, D = 4096, 10
X_np = rng.normal(size=(N, D)).astype(np.float32)
coef = rng.normal(size=(D,)).astype(np.float32)
y_np = (X_np @ coef + 0.5 * np.sin(3 * X_np[:, 0]) + 0.1 * rng.normal(size=N)).astype(np.float32)
X, y = mx.array(X_np), mx.array(y_np)

model = nn.Sequential(nn.Linear(D, 64), nn.Tanh(), nn.Linear(64, 1))
opt = optim.Adagrad(learning_rate=0.05)


def mse(model, xb, yb):
    return mx.mean((model(xb).squeeze(-1) - yb) ** 2)


grad_fn = nn.value_and_grad(model, mse)
BATCH = 128
ITERS = N // BATCH
for epoch in range(1, 11):
    perm = rng.permutation(N)
    for it in range(ITERS):
        batch_idx = perm[it * BATCH:(it + 1) * BATCH]
        xb, yb = X[batch_idx], y[batch_idx]
        loss, grads = grad_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if (it + 1) % 8 == 0:
            print(f"epoch {epoch} | iter {it + 1}/{ITERS} | mse={loss.item():.4f}", flush=True)
