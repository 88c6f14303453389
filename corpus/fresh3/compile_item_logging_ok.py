"""Compiled train step for a small MLP regressor, with a running loss average for the log."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Trainer:
    def __init__(self, model, lr=0.05):
        self.model = model
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.running = 0.0
        self.state = [model.state, self.opt.state]
        self.step = partial(mx.compile, inputs=self.state, outputs=self.state)(self._step)

    def loss_fn(self, model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def _step(self, x, y):
        loss, grads = nn.value_and_grad(self.model, self.loss_fn)(self.model, x, y)
        self.opt.update(self.model, grads)
        return loss

    def train(self, X, Y, epochs=30, bs=64):
        n = X.shape[0]
        for ep in range(epochs):
            perm = mx.random.permutation(n)
            tot = 0.0
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                loss = self.step(X[idx], Y[idx])
                mx.eval(self.state)
                tot += loss.item() * idx.shape[0]
                self.running = 0.9 * self.running + 0.1 * loss.item()
            print(f"epoch {ep:02d}  mse {tot / n:.4f}  ema {self.running:.4f}")


mx.random.seed(1)
X = mx.random.normal((1024, 8))
Y = (X[:, :1] * 2.0 - X[:, 1:2] + 0.5 * mx.sin(X[:, 2:3]))
model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
Trainer(model).train(X, Y)
