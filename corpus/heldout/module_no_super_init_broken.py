"""Two-spirals classifier with a hand-written Module subclass, trained with Lion."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class SpiralNet(nn.Module):
    def __init__(self, width=64, depth=3):
        self.layers = [nn.Linear(2 if i == 0 else width, width) for i in range(depth)]
        self.head = nn.Linear(width, 2)

    def __call__(self, x):
        for layer in self.layers:
            x = nn.relu(layer(x))
        return self.head(x)


def spirals(n):
    t = mx.random.uniform(0.25, 1.0, (n,)) * 3 * math.pi
    label = mx.random.randint(0, 2, (n,))
    sign = 2 * label - 1
    x = mx.stack([sign * t * mx.cos(t), sign * t * mx.sin(t)], axis=1) / 10
    return x + 0.02 * mx.random.normal(x.shape), label


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(2)
model = SpiralNet()
optimizer = optim.Lion(learning_rate=3e-4)
train_step = nn.value_and_grad(model, loss_fn)
x_val, y_val = spirals(512)

for epoch in range(1, 9):
    for _ in range(40):
        x, y = spirals(128)
        loss, grads = train_step(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    acc = (model(x_val).argmax(axis=1) == y_val).mean().item()
    print({"epoch": epoch, "loss": round(loss.item(), 4), "val_acc": round(acc, 3)})
