"""Distil a small teacher into a 4-bit student (memory-lean training run)."""
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class Config:
    width: int = 64
    depth: int = 3
    bits: int = 4
    group_size: int = 64
    lr: float = 1e-3
    steps: int = 300
    batch: int = 64
    seed: int = 7


class Student(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.blocks = [nn.Linear(cfg.width, cfg.width) for _ in range(cfg.depth)]
        self.norm = nn.RMSNorm(cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)

    def __call__(self, x):
        for blk in self.blocks:
            x = x + nn.silu(blk(x))
        return self.proj(self.norm(x))


def teacher_fn(cfg):
    w = mx.random.normal((cfg.width, cfg.width)) / cfg.width**0.5
    return lambda x: mx.tanh(x @ w)


def main(cfg: Config = Config()):
    mx.random.seed(cfg.seed)
    teacher = teacher_fn(cfg)
    student = Student(cfg)
    # keep the student small in memory
    nn.quantize(student, group_size=cfg.group_size, bits=cfg.bits)

    opt = optim.Adam(learning_rate=cfg.lr)

    def distill_loss(net, x):
        return nn.losses.mse_loss(net(x), teacher(x))

    step_fn = nn.value_and_grad(student, distill_loss)
    first_w = mx.array(student.blocks[0].weight)
    for step in range(cfg.steps):
        x = mx.random.normal((cfg.batch, cfg.width))
        loss, grads = step_fn(student, x)
        opt.update(student, grads)
        mx.eval(student.parameters(), opt.state)
        if step % 50 == 0 or step == cfg.steps - 1:
            print(f"step {step:3d} distill mse {loss.item():.4f}")
    moved = mx.abs(student.blocks[0].weight.astype(mx.float32) - first_w.astype(mx.float32)).max()
    print("blocks[0].weight max change:", moved.item())


if __name__ == "__main__":
    main()
