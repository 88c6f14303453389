"""Residual MLP regressor. Blocks live in a plain list so we can
iterate / index them and report their count in the log line."""
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW
from mlx.utils import tree_flatten


@dataclass
class Config:
    in_dim: int = 8
    hidden: int = 32
    depth: int = 3
    lr: float = 3e-3
    steps: int = 300
    batch: int = 64
    seed: int = 0


class ResBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class ResidualMLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.stem = nn.Linear(cfg.in_dim, cfg.hidden)
        self.blocks = [ResBlock(cfg.hidden) for _ in range(cfg.depth)]
        self.out = nn.Linear(cfg.hidden, 1)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = blk(h)
        return self.out(h).squeeze(-1)


def make_data(cfg, n=2048):
    k1, k2 = mx.random.split(mx.random.key(cfg.seed))
    X = mx.random.normal((n, cfg.in_dim), key=k1)
    W = mx.random.normal((cfg.in_dim, 4), key=k2)
    y = mx.sin(X @ W).prod(axis=1) + 0.5 * mx.cos(X[:, 0] * X[:, 1])
    return X, y


def main():
    cfg = Config()
    mx.random.seed(cfg.seed)
    X, y = make_data(cfg)
    net = ResidualMLP(cfg)
    mx.eval(net.parameters())
    print(f"blocks: {len(net.blocks)}  trainable tensors: {len(tree_flatten(net.trainable_parameters()))}")
    w0 = mx.array(net.blocks[0].fc1.weight)

    opt = AdamW(learning_rate=cfg.lr, weight_decay=0.01)

    def mse(net, xb, yb):
        return nn.losses.mse_loss(net(xb), yb)

    loss_and_grad = nn.value_and_grad(net, mse)
    t0 = time.time()
    for step in range(cfg.steps):
        idx = mx.random.randint(0, X.shape[0], (cfg.batch,))
        loss, grads = loss_and_grad(net, X[idx], y[idx])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state, loss)
        if step % 50 == 0 or step == cfg.steps - 1:
            print(f"step {step:4d} loss {loss.item():.4f}")
    full = mse(net, X, y).item()
    moved = mx.abs(net.blocks[0].fc1.weight - w0).max().item()
    print(f"final full-data mse {full:.4f}  block0.fc1 max|dW| {moved:.3e}  ({time.time()-t0:.1f}s)")


if __name__ == "__main__":
    main()
