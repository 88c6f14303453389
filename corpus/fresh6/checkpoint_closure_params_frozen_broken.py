# 3-class spiral classifier, deep MLP with gradient checkpointing on each block
# to keep activation memory low.
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)


def spirals(n_per_class=300, noise=0.15):
    xs, ys = [], []
    for c in range(3):
        t = mx.linspace(0.2, 1.0, n_per_class)
        ang = 3.5 * t + 2 * math.pi * c / 3
        pts = mx.stack([t * mx.cos(ang), t * mx.sin(ang)], axis=1)
        xs.append(pts + noise * 0.3 * mx.random.normal(pts.shape))
        ys.append(mx.full((n_per_class,), c))
    return mx.concatenate(xs), mx.concatenate(ys).astype(mx.int32)


class Block(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.fc1 = nn.Linear(dims, dims)
        self.fc2 = nn.Linear(dims, dims)

    def __call__(self, x):
        return nn.gelu(self.fc2(nn.gelu(self.fc1(x))))


class DeepMLP(nn.Module):
    def __init__(self, dims=48, depth=4):
        super().__init__()
        self.inp = nn.Linear(2, dims)
        self.blocks = [Block(dims) for _ in range(depth)]
        self.head = nn.Linear(dims, 3)

    def __call__(self, x):
        x = self.inp(x)
        for blk in self.blocks:
            x = mx.checkpoint(blk)(x)  # recompute activations in backward
        return self.head(x)


X, Y = spirals()
model = DeepMLP()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def batches(bs=64):
    while True:
        perm = mx.random.permutation(X.shape[0])
        for i in range(0, X.shape[0] - bs + 1, bs):
            idx = perm[i:i + bs]
            yield X[idx], Y[idx]


it = 0
ce_sum = 0.0
data = batches()
while it < 1200:
    x, y = next(data)
    ce, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, ce)
    it += 1
    ce_sum += ce.item()
    if it % 100 == 0:
        acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
        print(f"it {it:5d} | ce {ce_sum / 100:.3f} | acc {acc:.3f}")
        ce_sum = 0.0
