"""Trainer class around a small MLP classifier (two-moons style data).

Reports validation loss/accuracy of the trainer's model after every epoch.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def two_moons(n, rng):
    t = rng.uniform(0, math.pi, n)
    lab = rng.integers(0, 2, n)
    x = np.where(lab == 0, np.cos(t), 1 - np.cos(t))
    y = np.where(lab == 0, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], 1) + 0.1 * rng.normal(size=(n, 2))
    return mx.array(pts.astype(np.float32)), mx.array(lab)


class MLP(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.layers = [nn.Linear(2, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


class Trainer:
    def __init__(self, lr=1e-2, batch=32):
        self.model = MLP()
        mx.eval(self.model.parameters())
        self.lr, self.batch = lr, batch

    @staticmethod
    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def evaluate(self, x, y):
        logits = self.model(x)
        loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
        acc = mx.mean(mx.argmax(logits, axis=1) == y).item()
        return loss, acc

    def fit(self, train, val, epochs=12):
        x, y = train
        model = self.model
        optimizer = optim.Adam(learning_rate=self.lr)
        step = nn.value_and_grad(model, self.loss_fn)
        n = x.shape[0]
        for epoch in range(1, epochs + 1):
            perm = mx.random.permutation(n)
            for i in range(0, n, self.batch):
                idx = perm[i:i + self.batch]
                loss, grads = step(model, x[idx], y[idx])
                optimizer.update(model, grads)
                mx.eval(model.parameters(), optimizer.state)
            vloss, vacc = self.evaluate(*val)
            print(f"epoch {epoch:2d}/{epochs}  val_loss {vloss:.4f}  val_acc {vacc:.3f}")


rng = np.random.default_rng(3)
mx.random.seed(3)
trainer = Trainer()
trainer.fit(two_moons(800, rng), two_moons(200, rng))
