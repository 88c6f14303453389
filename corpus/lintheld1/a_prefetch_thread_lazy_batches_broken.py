"""MLP on synthetic tabular data with a background prefetch thread feeding batches."""
import queue
import threading

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_FEAT, N_CLS = 20, 3


class Prefetcher:
    """Builds normalized MLX batches in a background thread so the train loop never waits."""

    def __init__(self, X, y, batch_size, epochs, depth=4, seed=0):
        self.X, self.y = X, y
        self.bs, self.epochs = batch_size, epochs
        self.mean = X.mean(axis=0)
        self.std = X.std(axis=0) + 1e-6
        self.q = queue.Queue(maxsize=depth)
        self.rng = np.random.default_rng(seed)
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self):
        mean, std = mx.array(self.mean), mx.array(self.std)
        for _ in range(self.epochs):
            order = self.rng.permutation(len(self.X))
            for s in range(0, len(order), self.bs):
                ids = order[s:s + self.bs]
                xb = (mx.array(self.X[ids]) - mean) / std
                yb = mx.array(self.y[ids])
                self.q.put((xb, yb))
        self.q.put(None)

    def __iter__(self):
        while (item := self.q.get()) is not None:
            yield item


def make_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(N_CLS, N_FEAT))
    y = rng.integers(0, N_CLS, size=n)
    X = centers[y] + rng.normal(0, 2.0, size=(n, N_FEAT)) + 50.0
    return X.astype(np.float32), y.astype(np.int32)


def main():
    mx.random.seed(0)
    X, y = make_data()
    net = nn.Sequential(nn.Linear(N_FEAT, 64), nn.ReLU(), nn.Linear(64, N_CLS))
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    mx.eval(net.parameters())

    def ce(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(net, ce)
    loader = Prefetcher(X, y, batch_size=100, epochs=5)
    for step, (xb, yb) in enumerate(loader):
        loss, grads = vg(net, xb, yb)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if step % 40 == 0:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    Xn = mx.array((X - loader.mean) / loader.std)
    acc = (mx.argmax(net(Xn), axis=1) == mx.array(y)).mean().item()
    print(f"train accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
