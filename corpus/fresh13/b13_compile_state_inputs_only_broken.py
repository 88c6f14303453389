"""Train a small classifier with a compiled optimisation step (JSON-lines log)."""
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Classifier(nn.Module):
    def __init__(self, d_in=20, d_h=64, n_cls=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_h), nn.SiLU(), nn.Linear(d_h, d_h), nn.SiLU(), nn.Linear(d_h, n_cls))

    def __call__(self, x):
        return self.net(x)


def blobs(n=2048, d=20, k=4, seed=0):
    mx.random.seed(seed)
    centers = 2.5 * mx.random.normal((k, d))
    y = mx.random.randint(0, k, (n,))
    x = centers[y] + mx.random.normal((n, d))
    return x, y


class Trainer:
    def __init__(self, model, lr=1e-3):
        self.model = model
        self.opt = optim.Lion(learning_rate=lr, weight_decay=1e-4)
        self.state = [self.model.state, self.opt.state]

        def loss_fn(model, x, y):
            return nn.losses.cross_entropy(model(x), y, reduction="mean")

        self.loss_and_grad = nn.value_and_grad(self.model, loss_fn)

        @partial(mx.compile, inputs=self.state)
        def step(x, y):
            loss, grads = self.loss_and_grad(self.model, x, y)
            self.opt.update(self.model, grads)
            return loss

        self._step = step

    def train_step(self, x, y):
        loss = self._step(x, y)
        mx.eval(self.state, loss)
        return loss.item()


def main():
    xa, ya = blobs(n=2560)
    x, y, xv, yv = xa[:2048], ya[:2048], xa[2048:], ya[2048:]
    model = Classifier()
    mx.eval(model.parameters())
    trainer = Trainer(model)
    bs = 64
    t0 = time.time()
    for epoch in range(6):
        perm = mx.random.permutation(x.shape[0])
        tot = 0.0
        nb = 0
        for i in range(0, x.shape[0], bs):
            idx = perm[i:i + bs]
            tot += trainer.train_step(x[idx], y[idx])
            nb += 1
        acc = (mx.argmax(model(xv), axis=1) == yv).mean().item()
        print(json.dumps({"epoch": epoch, "train_xent": round(tot / nb, 4), "val_acc": round(acc, 4), "t": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
