"""Regression with a long, silent validation pass between two training epochs.

Correct loop: the validation pass runs many forward passes over a large
held-out set (no training output for ~10 s), then training resumes.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(41)
W1 = mx.random.normal((16, 32)) / 4
W2 = mx.random.normal((32, 1))


def target(x):
    return mx.tanh(x @ W1) @ W2


model = nn.Sequential(nn.Linear(16, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 1))
optimizer = optim.Adam(learning_rate=2e-3)
train_step = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
val_x = mx.random.normal((70_000, 16))
val_y = target(val_x)
mx.eval(val_x, val_y)


def validate(chunk=500, passes=3):
    # test-time augmentation: average the prediction over a few jittered copies
    total = 0.0
    for start in range(0, val_x.shape[0], chunk):
        x, y = val_x[start:start + chunk], val_y[start:start + chunk]
        pred = sum(model(x + 0.01 * mx.random.normal(x.shape)) for _ in range(passes)) / passes
        err = ((pred - y) ** 2).sum()
        mx.eval(err)
        total += err.item()
    return total / val_x.shape[0]


for epoch in (1, 2):
    for it in range(1, 201):
        x = mx.random.normal((128, 16))
        loss, grads = train_step(model, x, target(x))
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if it % 40 == 0:
            print(f"epoch {epoch} it {it:3d} train_mse {loss.item():.4f}", flush=True)
    if epoch == 1:
        tic = time.time()
        val = validate()
        print(f"epoch {epoch} val_mse {val:.4f} (validation took {time.time() - tic:.1f}s)")
print("done")
