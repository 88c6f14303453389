"""Importance-weighted multi-output regression (3 targets), SGD with Nesterov momentum.

Recent samples get a larger weight in the loss.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(9)
A = mx.random.normal((10, 3))
xs = mx.random.normal((2048, 10))
ys = xs @ A + 0.1 * mx.random.normal((2048, 3))
recency = mx.linspace(0.5, 1.5, 2048)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))

    def __call__(self, x):
        return self.body(x)


def weighted_loss(model, x, y, w):
    per_sample = nn.losses.mse_loss(model(x), y, reduction="none")
    return (per_sample * w[:, None]).mean()


model = Regressor()
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
grad_fn = nn.value_and_grad(model, weighted_loss)

for epoch in range(1, 6):
    perm = mx.random.permutation(2048)
    running = 0.0
    for i in range(0, 2048, 64):
        idx = perm[i:i + 64]
        loss, grads = grad_fn(model, xs[idx], ys[idx], recency[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
    print(f"epoch {epoch}/5 - weighted mse: {running / 32:.4f}")
