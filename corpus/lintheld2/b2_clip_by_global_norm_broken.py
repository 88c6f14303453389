"""Two-moons classifier with manual global-norm gradient clipping."""
import argparse
import math
import time

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_moons(n, noise=0.1, seed=0):
    mx.random.seed(seed)
    t = mx.random.uniform(0, math.pi, (n,))
    upper = mx.stack([mx.cos(t), mx.sin(t)], axis=1)
    lower = mx.stack([1 - mx.cos(t), 0.5 - mx.sin(t)], axis=1)
    labels = mx.random.randint(0, 2, (n,))
    pts = mx.where(labels[:, None] == 0, upper, lower)
    pts = pts + noise * mx.random.normal(pts.shape)
    return pts, labels


class Classifier(mnn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.body = mnn.Sequential(
            mnn.Linear(2, hidden), mnn.ReLU(),
            mnn.Linear(hidden, hidden), mnn.ReLU(),
            mnn.Linear(hidden, 2),
        )

    def __call__(self, x):
        return self.body(x)


class Trainer:
    def __init__(self, net, lr, max_norm):
        self.net = net
        self.opt = optim.SGD(learning_rate=lr, momentum=0.9)
        self.max_norm = max_norm
        self.grad_fn = mnn.value_and_grad(net, self.objective)

    def objective(self, x, y):
        return mnn.losses.cross_entropy(self.net(x), y, reduction="mean")

    def global_norm(self, grads):
        sq = 0.0
        for g in tree_flatten(grads):
            sq = sq + mx.sum(g * g)
        return mx.sqrt(sq)

    def step(self, x, y):
        loss, grads = self.grad_fn(x, y)
        norm = self.global_norm(grads)
        scale = mx.minimum(1.0, self.max_norm / (norm + 1e-6))
        grads = tree_map(lambda g: g * scale, grads)
        self.opt.update(self.net, grads)
        mx.eval(self.net.parameters(), self.opt.state, loss, norm)
        return loss.item(), norm.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--max-norm", type=float, default=1.0)
    args = ap.parse_args()

    x, y = make_moons(512)
    net = Classifier()
    mx.eval(net.parameters())
    trainer = Trainer(net, args.lr, args.max_norm)
    t0 = time.time()
    for it in range(args.steps):
        idx = mx.random.randint(0, x.shape[0], (64,))
        loss, norm = trainer.step(x[idx], y[idx])
        if it % 50 == 0 or it == args.steps - 1:
            print(f"step {it:4d} loss {loss:.4f} grad-norm {norm:.3f}")
    acc = (mx.argmax(net(x), axis=1) == y).mean().item()
    print(f"train accuracy {acc:.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
