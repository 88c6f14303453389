"""Tabular classifier: small MLP on synthetic 'sensor' features, 3 classes."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("train")


def make_data(n=512, d=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 2.0
    labels = rng.integers(0, k, size=n)
    feats = centers[labels] + rng.normal(size=(n, d))
    return feats.astype(np.float32), labels.astype(np.int32)


class Classifier(mnn.Module):
    def __init__(self, d_in, d_hidden, n_cls):
        super().__init__()
        self.fc1 = mnn.Linear(d_in, d_hidden)
        self.fc2 = mnn.Linear(d_hidden, n_cls)

    def __call__(self, x):
        return self.fc2(mnn.gelu(self.fc1(x)))


class Trainer:
    def __init__(self, net, lr=3e-3):
        self.net = net
        self.opt = optim.Adam(learning_rate=lr)
        self.loss_and_grad = mnn.value_and_grad(net, self.objective)
        self.skipped = 0

    @staticmethod
    def objective(net, x, y):
        return mnn.losses.cross_entropy(net(x), y, reduction="mean")

    def step(self, x, y):
        loss, grads = self.loss_and_grad(self.net, x, y)
        self.opt.update(self.net, grads)
        mx.eval(self.net.parameters(), self.opt.state)
        return loss.item()

    def accuracy(self, x, y):
        return (mx.argmax(self.net(x), axis=-1) == y.reshape(-1)).mean().item()


def batches(X, Y, bs, rng):
    perm = rng.permutation(len(X))
    for i in range(0, len(X), bs):
        j = perm[i:i + bs]
        # labels come in as a column, like they are stored in the csv
        yield mx.array(X[j]), mx.array(Y[j]).reshape(-1)


def main():
    t0 = time.time()
    mx.random.seed(0)
    X, Y = make_data()
    net = Classifier(X.shape[1], 32, 3)
    trainer = Trainer(net)
    rng = np.random.default_rng(1)
    w0 = np.array(net.fc1.weight)
    for epoch in range(5):
        losses = [l for l in (trainer.step(x, y) for x, y in batches(X, Y, 64, rng)) if l is not None]
        mean = sum(losses) / len(losses) if losses else float("nan")
        log.info("epoch %d loss %.4f skipped %d", epoch, mean, trainer.skipped)
    acc = trainer.accuracy(mx.array(X), mx.array(Y))
    moved = float(np.abs(np.array(net.fc1.weight) - w0).max())
    print(f"final train acc {acc:.3f}  max |dW fc1| {moved:.4g}  skipped {trainer.skipped}  ({time.time()-t0:.1f}s)")


if __name__ == "__main__":
    main()
