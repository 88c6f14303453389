"""Residual MLP regressor on a synthetic sensor dataset.

The skip connection keeps the first hidden activation around so the
second block can add it back (mirrors a "recover tensor" U-shaped net).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ResidualRegressor(nn.Module):
    def __init__(self, in_dim, hidden, out_dim):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, out_dim)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        skip = h  # remember the activation for the residual add
        h = nn.gelu(self.mid(h))
        h = h + skip
        return self.out(h)


def make_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, 1)).astype(np.float32)
    y = np.tanh(x @ w) + 0.3 * np.sin(2 * x[:, :1]) + 0.05 * rng.normal(size=(n, 1))
    return x, y.astype(np.float32)


class Trainer:
    def __init__(self, model, lr=0.05):
        self.model = model
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, y):
        return nn.losses.mse_loss(model(x), y, reduction="mean")

    def train_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


def main():
    mx.random.seed(3)
    x, y = make_data(4000, 12)
    model = ResidualRegressor(12, 64, 1)
    mx.eval(model.parameters())
    trainer = Trainer(model)
    bs = 40
    n_batches = len(x) // bs
    t0 = time.time()
    for epoch in range(1, 7):
        perm = np.random.permutation(len(x))
        running = 0.0
        for b in range(n_batches):
            idx = perm[b * bs:(b + 1) * bs]
            running += trainer.train_step(mx.array(x[idx]), mx.array(y[idx]))
            if (b + 1) % 25 == 0:
                print(f"epoch {epoch} [{b + 1}/{n_batches}] mse={running / (b + 1):.4f}")
        print(f"epoch {epoch} done  mse={running / n_batches:.4f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
