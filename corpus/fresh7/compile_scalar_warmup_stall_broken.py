"""Regression MLP with a compiled train step and linear LR warmup.

The warmup factor is computed in Python and handed to the compiled step.
"""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

N, D = 2048, 16
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1))
Y = mx.tanh(X @ w_true) + 0.05 * mx.random.normal((N, 1))

model = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, 1))
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)
state = [model.state, optimizer.state]

EPOCHS = 24
BATCH = 64
WARMUP = 1500
steps_per_epoch = N // BATCH


def loss_fn(m, xb, yb, scale):
    return nn.losses.mse_loss(m(xb), yb) * scale


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb, warm):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb, warm)
    optimizer.update(model, grads)
    return loss / warm


step = 0
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(N)
    t0 = time.perf_counter()
    running = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        step += 1
        warm = min(1.0, step / WARMUP)
        loss = train_step(X[idx], Y[idx], warm)
        mx.eval(state, loss)
        running += loss.item()
        if (i + 1) % 8 == 0:
            print(f"epoch {epoch} [{i + 1}/{steps_per_epoch}] mse={running / (i + 1):.4f}"
                  f" warm={warm:.3f} ({(time.perf_counter() - t0) / (i + 1) * 1e3:.1f} ms/step)",
                  flush=True)
print("done")
