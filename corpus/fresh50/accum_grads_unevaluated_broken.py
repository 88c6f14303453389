"""Random-Fourier-feature regression of a wiggly 1-D signal, trained with
gradient accumulation (many micro-batches per optimizer step) because the
full batch does not fit in memory.
"""
import math
import resource
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


@dataclass
class TrainConfig:
    num_iters: int = 5                 # optimizer steps
    batch_size: int = 1024             # micro-batch size
    grad_accumulation_steps: int = 32  # micro-batches per optimizer step
    max_lr: float = 3e-3


def target_fn(x):
    return mx.sin(6 * x) + 0.5 * mx.sin(23 * x + 1.0) + 0.25 * mx.cos(57 * x)


class FourierNet(nn.Module):
    def __init__(self, n_feat=2048, hidden=8):
        super().__init__()
        self.proj = nn.Linear(1, n_feat)
        self.proj.weight = mx.random.normal((n_feat, 1)) * 30.0
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.mix = nn.Linear(n_feat, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = mx.sin(self.proj(x)) * (1.0 / math.sqrt(self.proj.weight.shape[0]))
        return self.out(nn.gelu(self.mix(h)))


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class Trainer:
    def __init__(self, cfg):
        mx.random.seed(0)
        self.cfg = cfg
        self.model = FourierNet()
        mx.eval(self.model.parameters())
        self.optimizer = optim.AdamW(learning_rate=cfg.max_lr, weight_decay=0.0)
        self.loss_and_grad = nn.value_and_grad(self.model, self.loss_fn)
        self.accumulated_grads = tree_map(lambda p: mx.zeros_like(p), self.model.parameters())
        self.accumulated_loss = 0.0

    def loss_fn(self, model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def micro_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        w = 1.0 / self.cfg.grad_accumulation_steps
        self.accumulated_grads = tree_map(
            lambda acc, new: acc + new * w,
            self.accumulated_grads,
            grads,
        )
        self.accumulated_loss += loss.item()
        return loss

    def apply(self):
        self.optimizer.update(self.model, self.accumulated_grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        self.accumulated_grads = tree_map(lambda p: mx.zeros_like(p), self.model.parameters())
        loss = self.accumulated_loss / self.cfg.grad_accumulation_steps
        self.accumulated_loss = 0.0
        return loss

    def val_loss(self):
        xv = mx.linspace(-1, 1, 4096)[:, None]
        return nn.losses.mse_loss(self.model(xv), target_fn(xv)).item()

    def train(self):
        cfg = self.cfg
        key = mx.random.key(1)
        print(f"start: val mse {self.val_loss():.4f}  rss {rss_mb():.0f} MB")
        t0 = time.time()
        for it in range(1, cfg.num_iters + 1):
            for micro in range(1, cfg.grad_accumulation_steps + 1):
                key, k = mx.random.split(key)
                x = mx.random.uniform(-1, 1, (cfg.batch_size, 1), key=k)
                self.micro_step(x, target_fn(x))
                if micro % 8 == 0:
                    print(f"  iter {it} micro {micro:>2}/{cfg.grad_accumulation_steps}: "
                          f"active {mx.get_active_memory() / 2**20:7.1f} MB  rss {rss_mb():6.0f} MB")
            loss = self.apply()
            print(f"iter {it}: train loss {loss:.4f}, val mse {self.val_loss():.4f}, "
                  f"peak {mx.get_peak_memory() / 2**20:.0f} MB, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    Trainer(TrainConfig()).train()
