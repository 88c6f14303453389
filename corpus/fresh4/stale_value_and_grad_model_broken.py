"""Trainer class with a 'restart from best checkpoint' when validation stalls.

The restart rebuilds the network and loads the best weights into the new instance.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(21)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 40)
        self.fc2 = nn.Linear(40, 40)
        self.fc3 = nn.Linear(40, 1)

    def __call__(self, x):
        return self.fc3(nn.silu(self.fc2(nn.silu(self.fc1(x)))))


def target(x):
    return mx.sin(2 * x[:, :1]) * mx.cos(x[:, 1:2]) + 0.3 * x[:, 2:3]


class Trainer:
    def __init__(self):
        self.model = Net()
        self.opt = optim.Adam(learning_rate=2e-3)
        self.step_fn = nn.value_and_grad(self.model, self.loss)
        self.best = None

    @staticmethod
    def loss(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def restart_from_best(self):
        self.model = Net()
        self.model.update(tree_map(lambda a: a, self.best))
        self.opt = optim.Adam(learning_rate=1e-3)

    def train(self, epochs=14, iters=60):
        xv = mx.random.uniform(-2, 2, (256, 3))
        yv = target(xv)
        best_val = float("inf")
        for ep in range(epochs):
            for _ in range(iters):
                x = mx.random.uniform(-2, 2, (64, 3))
                loss, grads = self.step_fn(self.model, x, target(x))
                self.opt.update(self.model, grads)
                mx.eval(self.model.parameters(), self.opt.state)
            val = self.loss(self.model, xv, yv).item()
            print(f"epoch {ep:02d}  train_mse {loss.item():.5f}  val_mse {val:.5f}")
            if val < best_val:
                best_val = val
                self.best = tree_map(lambda a: mx.array(a), self.model.parameters())
            if ep == 3:
                print("restarting from best checkpoint with lower lr")
                self.restart_from_best()


Trainer().train()
