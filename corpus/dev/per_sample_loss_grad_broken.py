"""Tabular regression: an MLP on synthetic housing-like features, fed by a generator."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


def batches(x, y, batch_size, seed):
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.integers(0, len(x), batch_size)
        yield mx.array(x[idx]), mx.array(y[idx])


rng = np.random.default_rng(42)
features = rng.normal(size=(2000, 8)).astype(np.float32)
true_w = rng.normal(size=(8, 1)).astype(np.float32)
prices = (features @ true_w + 0.3 * np.tanh(features[:, :1] * 2)).astype(np.float32)

model = nn.Sequential(nn.Linear(8, 32), nn.SiLU(), nn.Linear(32, 1))
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="none")


loss_and_grad = nn.value_and_grad(model, loss_fn)
stream = batches(features, prices, 64, seed=7)
step, history = 0, []
while step < 800:
    x, y = next(stream)
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    history.append(loss.mean().item())
    step += 1
    if step % 100 == 0:
        print({"step": step, "mse": round(sum(history[-100:]) / 100, 5)})
