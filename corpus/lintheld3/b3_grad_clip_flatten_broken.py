"""Small regression trainer with global-norm gradient clipping."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def _leaves(tree):
    # walk every array in a nested params / grads tree
    yield from tree_flatten(tree)


def global_norm(tree):
    total = mx.array(0.0)
    for leaf in _leaves(tree):
        total = total + (leaf ** 2).sum()
    return mx.sqrt(total)


def clip_by_global_norm(grads, max_norm):
    norm = global_norm(grads)
    scale = mx.minimum(1.0, max_norm / (norm + 1e-6))
    return tree_map(lambda g: g * scale, grads), norm


class Regressor(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


class Trainer:
    def __init__(self, net, lr=3e-2, max_norm=1.0):
        self.net = net
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.max_norm = max_norm
        self._vg = nn.value_and_grad(net, self.objective)

    @staticmethod
    def objective(net, x, y):
        return nn.losses.mse_loss(net(x), y)

    def step(self, x, y):
        value, grads = self._vg(self.net, x, y)
        grads, gnorm = clip_by_global_norm(grads, self.max_norm)
        self.opt.update(self.net, grads)
        mx.eval(self.net.parameters(), self.opt.state, value, gnorm)
        return value.item(), gnorm.item()


def batches(x, y, bs):
    n = x.shape[0]
    while True:
        perm = mx.random.permutation(n)
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            yield x[idx], y[idx]


def main():
    mx.random.seed(0)
    x = mx.random.normal((512, 8))
    w_true = mx.random.normal((8,))
    y = mx.sin(x @ w_true) + 0.05 * mx.random.normal((512,))
    trainer = Trainer(Regressor(8, 32))
    stream = batches(x, y, 64)
    t0 = time.time()
    step = 0
    while step < 300:
        xb, yb = next(stream)
        loss, gnorm = trainer.step(xb, yb)
        if step % 50 == 0:
            print(f"step {step:4d} loss {loss:.4f} |g| {gnorm:.3f}")
        step += 1
    final = nn.losses.mse_loss(trainer.net(x), y).item()
    print(f"final full-data loss {final:.4f} in {time.time() - t0:.1f}s")
    assert math.isfinite(final)


if __name__ == "__main__":
    main()
