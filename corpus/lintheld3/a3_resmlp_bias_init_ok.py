"""Residual MLP for 2-D 'two spirals' classification. Following a paper recipe,
biases are initialised to a small positive constant to keep ReLUs alive."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ResBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)

    def __call__(self, x):
        return x + self.fc2(nn.relu(self.fc1(x)))


class ResMLP(nn.Module):
    def __init__(self, d=32, depth=3, bias_init=0.01):
        super().__init__()
        self.stem = nn.Linear(2, d)
        self.blocks = [ResBlock(d) for _ in range(depth)]
        self.head = nn.Linear(d, 2)
        self.init_biases(bias_init)

    def init_biases(self, value):
        self.apply(nn.init.constant(value), filter_fn=lambda mod, key, val: key == "bias" or isinstance(val, (dict, list)))

    def __call__(self, x):
        h = nn.relu(self.stem(x))
        for blk in self.blocks:
            h = blk(h)
        return self.head(h)


def spirals(n, key):
    k1, k2 = mx.random.split(key)
    t = mx.sqrt(mx.random.uniform(0, 1, (n,), key=k1)) * 3 * math.pi
    lab = mx.random.randint(0, 2, (n,), key=k2)
    sign = 2.0 * lab - 1.0
    pts = mx.stack([sign * t * mx.cos(t), sign * t * mx.sin(t)], axis=1) / (3 * math.pi)
    return pts, lab


def main():
    mx.random.seed(3)
    x, y = spirals(1024, mx.random.key(1))
    clf = ResMLP()
    opt = optim.Adam(learning_rate=5e-3)
    train_step = nn.value_and_grad(clf, lambda a, b: nn.losses.cross_entropy(clf(a), b).mean())
    for epoch in range(30):
        perm = mx.random.permutation(1024)
        for i in range(0, 1024, 128):
            idx = perm[i:i + 128]
            loss, g = train_step(x[idx], y[idx])
            opt.update(clf, g)
            mx.eval(clf.parameters(), opt.state)
        if epoch % 5 == 0 or epoch == 29:
            acc = mx.mean(mx.argmax(clf(x), axis=1) == y).item()
            print(f"epoch {epoch:2d} loss {loss.item():.4f} train-acc {acc:.3f}")


if __name__ == "__main__":
    main()
