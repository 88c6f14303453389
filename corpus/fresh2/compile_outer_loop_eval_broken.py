"""Regression on a toy heat-equation surrogate; the whole epoch is wrapped in mx.compile."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
N, B, EPOCHS = 512, 32, 8
X = mx.random.uniform(shape=(N, 4))
Y = mx.sin(X.sum(axis=1, keepdims=True) * 2.0)

model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))
opt = optim.Adam(learning_rate=3e-3)
state = [model.state, opt.state]


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


@partial(mx.compile, inputs=state, outputs=state)
def train_epoch(xs, ys):
    total = 0.0
    for i in range(0, N, B):
        loss, grads = grad_fn(model, xs[i:i + B], ys[i:i + B])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        total += loss.item()
    return total / (N // B)


for epoch in range(EPOCHS):
    print(f"epoch {epoch + 1}/{EPOCHS}  train_mse={train_epoch(X, Y):.4f}")
