"""Two-moons style classifier with periodic validation and checkpointing."""
import argparse
import os
import tempfile
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


@dataclass
class RunConfig:
    iters: int = 300
    batch_size: int = 32
    lr: float = 0.02
    eval_every: int = 100
    hidden: list = field(default_factory=lambda: [32, 32])
    out_dir: str = field(default_factory=tempfile.mkdtemp)


def moons(n, key, noise=0.1):
    k1, k2, k3 = mx.random.split(key, 3)
    t = mx.random.uniform(0, 3.14159, (n,), key=k1)
    lab = mx.random.randint(0, 2, (n,), key=k2)
    x = mx.where(lab == 0, mx.cos(t), 1 - mx.cos(t))
    y = mx.where(lab == 0, mx.sin(t), 0.5 - mx.sin(t))
    pts = mx.stack([x, y], axis=1) + noise * mx.random.normal((n, 2), key=k3)
    return pts, lab


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        dims = [2] + hidden
        self.hidden = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.head = nn.Linear(dims[-1], 2)

    def __call__(self, x):
        for l in self.hidden:
            x = nn.relu(l(x))
        return self.head(x)


def batches(x, y, bs, key):
    while True:
        key, sub = mx.random.split(key)
        idx = mx.random.randint(0, x.shape[0], (bs,), key=sub)
        yield x[idx], y[idx]


def main(cfg: RunConfig):
    train_x, train_y = moons(2000, mx.random.key(0))
    valid_x, valid_y = moons(400, mx.random.key(1))
    net = Net(cfg.hidden)
    opt = optim.Adam(learning_rate=cfg.lr)

    def ce(params, x, y):
        net.update(params)
        return nn.losses.cross_entropy(net(x), y).mean()

    grad_fn = mx.grad(ce)
    stream = batches(train_x, train_y, cfg.batch_size, mx.random.key(2))
    best = 0.0
    for it in range(1, cfg.iters + 1):
        x, y = next(stream)
        grads = grad_fn(net.trainable_parameters(), x, y)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if it % cfg.eval_every == 0:
            logits = net(valid_x)
            acc = (mx.argmax(logits, axis=1) == valid_y).astype(mx.float32).mean().item()
            print(f"iter {it}: val acc {acc:.3f}")
            if acc > best:
                best = acc
                mx.save_safetensors(os.path.join(cfg.out_dir, "best.safetensors"),
                                    dict(tree_flatten(net.parameters())))
    print(f"best val acc {best:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=RunConfig.iters)
    ap.add_argument("--eval-every", type=int, default=RunConfig.eval_every)
    a = ap.parse_args()
    main(RunConfig(iters=a.iters, eval_every=a.eval_every))
