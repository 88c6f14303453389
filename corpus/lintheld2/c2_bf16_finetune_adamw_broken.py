"""Fine-tune a small 'pretrained' MLP on a shifted task, in bfloat16 to save memory."""
from dataclasses import dataclass, field
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW
from mlx.utils import tree_flatten


@dataclass
class FinetuneConfig:
    dim: int = 64
    hidden: int = 128
    lr: float = 2e-5
    weight_decay: float = 0.01
    steps: int = 300
    batch: int = 32
    seed: int = 0
    dtype: mx.Dtype = field(default=mx.bfloat16)


class Block(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)

    def __call__(self, x):
        return x + self.down(nn.gelu(self.up(self.norm(x))))


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = [Block(cfg.dim, cfg.hidden) for _ in range(2)]
        self.head = nn.Linear(cfg.dim, 1)

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def task_batches(cfg, w_true):
    while True:
        x = mx.random.normal((cfg.batch, cfg.dim))
        yield x, x @ w_true


def snapshot(model):
    return {k: mx.array(v) for k, v in tree_flatten(model.parameters())}


def main(cfg: FinetuneConfig):
    mx.random.seed(cfg.seed)
    net = Net(cfg)
    net.set_dtype(cfg.dtype)
    w_true = mx.random.normal((cfg.dim, 1)) * 0.2
    opt = AdamW(learning_rate=cfg.lr, weight_decay=cfg.weight_decay)
    loss_and_grad = nn.value_and_grad(net, lambda x, y: nn.losses.mse_loss(net(x), y))

    before = snapshot(net)
    data = task_batches(cfg, w_true)
    t0 = time.time()
    for i in range(cfg.steps):
        x, y = next(data)
        loss, grads = loss_and_grad(x.astype(cfg.dtype), y.astype(cfg.dtype))
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if i % 75 == 0 or i == cfg.steps - 1:
            print(f"step {i:3d}  loss {loss.item():.4f}")
    after = snapshot(net)
    changed = sum((before[k] != after[k]).sum().item() for k in before)
    total = sum(v.size for v in before.values())
    print(f"param dtype {net.head.weight.dtype}; elements changed by fine-tuning: "
          f"{changed}/{total} ({100 * changed / total:.2f}%)  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main(FinetuneConfig())
