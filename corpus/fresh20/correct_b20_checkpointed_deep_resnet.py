# Deep (12-block) pre-norm residual MLP trained with activation checkpointing:
# every block's forward is recomputed during the backward pass
# (mlx.nn.utils.checkpoint), trading compute for memory. SGD + Nesterov,
# step-decay lr, sparse logging with per-step wall time.
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import checkpoint

DEPTH, WIDTH = 12, 64
mx.random.seed(21)

# regression target: smooth nonlinear function of 8 inputs
W_true = mx.random.normal((8, 1))


def target(x):
    return mx.sin(x @ W_true) + 0.3 * (x[:, :1] * x[:, 1:2]) + 0.05 * mx.random.normal((x.shape[0], 1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(WIDTH)
        self.fc1 = nn.Linear(WIDTH, 2 * WIDTH)
        self.fc2 = nn.Linear(2 * WIDTH, WIDTH)
        self.fc2.weight = self.fc2.weight * 0.1  # small residual branches

    def __call__(self, h):
        return h + self.fc2(nn.silu(self.fc1(self.norm(h))))


class DeepResMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, WIDTH)
        self.blocks = [Block() for _ in range(DEPTH)]
        self.out = nn.Linear(WIDTH, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = checkpoint(b)(h)
        return self.out(h)


model = DeepResMLP()
mx.eval(model.parameters())
sched = optim.step_decay(0.01, 0.5, 120)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


vg = nn.value_and_grad(model, loss_fn)
xv = mx.random.normal((1024, 8))
yv = target(xv)

t_last = time.perf_counter()
for it in range(1, 421):
    x = mx.random.normal((128, 8))
    y = target(x)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if it % 60 == 0:
        val = loss_fn(model, xv, yv).item()
        now = time.perf_counter()
        sys.stdout.write(f"it={it} batch_mse={loss.item():.5f} val_mse={val:.5f} "
                         f"lr={opt.learning_rate.item():.4g} {1000 * (now - t_last) / 60:.1f}ms/it\n")
        sys.stdout.flush()
        t_last = now
