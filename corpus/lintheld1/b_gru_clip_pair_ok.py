"""Running-sum regression with a small GRU; gradients are norm-clipped."""
import math

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import SGD, clip_grad_norm


class SeqRegressor(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.rnn = nn.GRU(1, hidden)
        self.readout = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.rnn(x)
        return self.readout(h[:, -1]).squeeze(-1)


def apply_update(opt, net, grads, max_norm):
    grads, _ = clip_grad_norm(grads, max_norm=max_norm)
    opt.update(net, grads)


def make_batch(batch, length):
    x = mx.random.uniform(-1, 1, (batch, length, 1))
    return x, x.sum(axis=(1, 2)) / math.sqrt(length)


def main(steps=200, length=10, max_norm=1.0):
    mx.random.seed(7)
    net = SeqRegressor()
    opt = SGD(learning_rate=0.1, momentum=0.9)
    objective = lambda n, x, y: nn.losses.mse_loss(n(x), y)
    step_grad = nn.value_and_grad(net, objective)
    x_val, y_val = make_batch(256, length)
    print(f"val mse before {objective(net, x_val, y_val).item():.4f}")
    for it in range(steps):
        x, y = make_batch(32, length)
        loss, grads = step_grad(net, x, y)
        apply_update(opt, net, grads, max_norm)
        mx.eval(net.parameters(), opt.state)
        if it % 40 == 0:
            print(f"it {it} loss {loss.item():.4f}")
    print(f"val mse after {objective(net, x_val, y_val).item():.4f}")


if __name__ == "__main__":
    main()
