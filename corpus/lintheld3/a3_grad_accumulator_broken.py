"""Gradient accumulation over micro-batches for a small MLP regressor, so the
effective batch (micro_bs * accum) fits a 'memory budget'."""
import math
from dataclasses import dataclass
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass(frozen=True)
class Cfg:
    dim: int = 10
    hidden: int = 64
    micro_bs: int = 8
    accum: int = 16
    updates: int = 150
    lr: float = 0.05
    momentum: float = 0.9


class GradAccumulator:
    def __init__(self):
        self.total = None
        self.count = 0

    def add(self, grads):
        self.total = grads if self.total is None else tree_map(mx.add, self.total, grads)
        self.count += 1

    def finalize(self):
        out = self.total
        self.total, self.count = None, 0
        return out


def loss_fn(model, x, y, reduction="mean"):
    return nn.losses.mse_loss(model(x), y, reduction=reduction)


def sample(cfg, w):
    x = mx.random.normal((cfg.micro_bs, cfg.dim))
    return x, mx.sin(x @ w)


def main():
    cfg = Cfg()
    mx.random.seed(3)
    w = mx.random.normal((cfg.dim, 1)) / math.sqrt(cfg.dim)
    model = nn.Sequential(nn.Linear(cfg.dim, cfg.hidden), nn.ReLU(),
                          nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
                          nn.Linear(cfg.hidden, 1))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)
    vg = nn.value_and_grad(model, partial(loss_fn, reduction="mean"))
    acc = GradAccumulator()

    for upd in range(cfg.updates):
        running = 0.0
        for _ in range(cfg.accum):
            x, y = sample(cfg, w)
            l, g = vg(model, x, y)
            acc.add(g)
            mx.eval(acc.total, l)
            running += l.item()
        opt.update(model, acc.finalize())
        mx.eval(model.parameters(), opt.state)
        if upd % 25 == 0 or upd == cfg.updates - 1:
            print(f"update {upd:4d} loss {running / cfg.accum:.5f}")


if __name__ == "__main__":
    main()
