#!/usr/bin/env python
"""Two-layer classifier built from a hand-rolled Dense layer (we want
control over the init), trained functionally with mx.grad."""
import argparse
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Dense(nn.Module):
    def __init__(self, fan_in, fan_out, gain=1.0):
        super().__init__()
        std = gain / math.sqrt(fan_in)
        self.weight = mx.random.normal((fan_in, fan_out)) * std
        self.bias = mx.zeros((fan_out,))

    def __call__(self, x):
        return x @ self.weight + self.bias


class Classifier(nn.Module):
    def __init__(self, d_in, d_hidden, n_cls):
        super().__init__()
        self.l1 = Dense(d_in, d_hidden, gain=math.sqrt(2))
        self.l2 = Dense(d_hidden, n_cls)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


def rings(n, n_cls, seed):
    key = mx.random.key(seed)
    k1, k2, k3 = mx.random.split(key, 3)
    labels = mx.random.randint(0, n_cls, (n,), key=k1)
    radius = labels.astype(mx.float32) + 0.5 + 0.15 * mx.random.normal((n,), key=k2)
    theta = mx.random.uniform(0, 2 * math.pi, (n,), key=k3)
    xy = mx.stack([radius * mx.cos(theta), radius * mx.sin(theta)], axis=1)
    return xy, labels


def run(args):
    mx.random.seed(args.seed)
    X, Y = rings(3000, args.classes, args.seed)
    clf = Classifier(2, args.hidden, args.classes)
    opt = optim.Adam(learning_rate=args.lr)

    def objective(params, xb, yb):
        clf.update(params)
        return nn.losses.cross_entropy(clf(xb), yb, reduction="mean")

    grad_fn = mx.grad(objective)
    params = clf.trainable_parameters()
    for epoch in range(args.epochs):
        for i in range(0, X.shape[0], args.batch):
            g = grad_fn(params, X[i:i + args.batch], Y[i:i + args.batch])
            params = opt.apply_gradients(g, params)
            mx.eval(params, opt.state)
        clf.update(params)
        acc = (clf(X).argmax(axis=1) == Y).mean().item()
        print(f"epoch {epoch} loss {objective(params, X, Y).item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args())
