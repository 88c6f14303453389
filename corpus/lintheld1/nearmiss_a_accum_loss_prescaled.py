# Gradient accumulation where each micro-batch loss is pre-divided by the number of micro-batches,
# so the summed gradients are already an average.
import argparse

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def get_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--accum", type=int, default=8)
    ap.add_argument("--micro", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--updates", type=int, default=150)
    return ap.parse_args()


class TwoLayer(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.a = nn.Linear(d, h)
        self.b = nn.Linear(h, 1)

    def __call__(self, x):
        return self.b(nn.relu(self.a(x)))[:, 0]


def scaled_mse(net, x, y, n_micro):
    return nn.losses.mse_loss(net(x), y) / n_micro


def main():
    args = get_args()
    mx.random.seed(3)
    X = mx.random.normal((4096, 10))
    w = mx.random.normal((10,))
    Y = X @ w + 0.5 * mx.sin(2 * X[:, 0]) + 0.1 * mx.random.normal((4096,))
    net = TwoLayer(10, 32)
    mx.eval(net.parameters(), X, Y)
    sgd = optim.SGD(learning_rate=args.lr, momentum=0.9)
    grad_fn = nn.value_and_grad(net, scaled_mse)

    u = 0
    while u < args.updates:
        perm = mx.random.permutation(X.shape[0])
        summed = None
        for m in range(args.accum):
            ids = perm[m * args.micro:(m + 1) * args.micro]
            _, g = grad_fn(net, X[ids], Y[ids], args.accum)
            summed = g if summed is None else tree_map(mx.add, summed, g)
        sgd.update(net, summed)
        mx.eval(net.parameters(), sgd.state)
        if u % 30 == 0 or u == args.updates - 1:
            print(f"update {u:3d}  full mse {nn.losses.mse_loss(net(X), Y).item():.4f}")
        u += 1


if __name__ == "__main__":
    main()
