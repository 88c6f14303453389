"""Tiny CNN on synthetic 'horizontal vs vertical bars' images, compiled train step with grad clipping."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

MAX_GRAD_NORM = 1.0


class BarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8, 2)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        return self.fc(x.mean(axis=(1, 2)))


def make_bars(n, size=8, seed=0):
    key = mx.random.key(seed)
    k1, k2, k3 = mx.random.split(key, 3)
    labels = mx.random.randint(0, 2, (n,), key=k1)
    pos = mx.random.randint(0, size, (n,), key=k2)
    grid = mx.arange(size)
    rows = (grid[None, :, None] == pos[:, None, None]) * mx.ones((1, 1, size))
    cols = mx.transpose(rows, (0, 2, 1))
    imgs = mx.where(labels[:, None, None] == 1, rows, cols)
    imgs = imgs + 0.3 * mx.random.normal(imgs.shape, key=k3)
    return imgs[..., None].astype(mx.float32), labels


def global_norm(tree):
    return mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(tree)))


def main():
    mx.random.seed(0)
    X, Y = make_bars(384)
    net = BarNet()
    opt = optim.Adam(learning_rate=3e-3)
    mx.eval(net.parameters(), X, Y)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(net, loss_fn)
    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = loss_and_grad(net, x, y)
        norm = global_norm(grads)
        scale = mx.minimum(1.0, MAX_GRAD_NORM / (norm + 1e-6))
        grads = tree_map(lambda g: g * scale, grads)
        opt.update(net, grads)
        return loss, norm

    bs = 32
    for epoch in range(3):
        perm = mx.random.permutation(X.shape[0])
        total, n = 0.0, 0
        for i in range(0, X.shape[0], bs):
            idx = perm[i:i + bs]
            loss, norm = train_step(X[idx], Y[idx])
            mx.eval(state)
            total += loss.item()
            n += 1
        acc = (mx.argmax(net(X), axis=1) == Y).mean().item()
        print(f"epoch {epoch}  loss {total / n:.4f}  acc {acc:.3f}")


if __name__ == "__main__":
    main()
