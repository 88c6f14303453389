"""Two-spirals classifier with gradient accumulation and a hand-rolled
warmup + cosine schedule. Progress is shown as a text bar with a postfix."""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)


def two_spirals(n):
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * math.pi
    cls = rng.integers(0, 2, n)
    sign = np.where(cls == 0, 1.0, -1.0)
    x = np.stack([sign * t * np.cos(t), sign * t * np.sin(t)], 1) / 10.0
    x += rng.normal(0, 0.03, x.shape)
    return x.astype(np.float32), cls.astype(np.int32)


class SpiralNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 2)

    def __call__(self, x):
        return self.l3(mx.tanh(self.l2(mx.tanh(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def lr_scheduler(step, base=1e-2, warmup=50, total=1000):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return 1e-4 + 0.5 * (base - 1e-4) * (1 + math.cos(math.pi * p))


def bar(i, n, width=30):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + f"] {i}/{n}"


def main():
    xtr, ytr = two_spirals(4096)
    xva, yva = two_spirals(1024)
    xva, yva = mx.array(xva), mx.array(yva)
    model = SpiralNet()
    optimizer = optim.AdamW(learning_rate=1e-2, weight_decay=1e-4)
    grad_fn = nn.value_and_grad(model, loss_fn)
    accum_steps, micro = 4, 128
    total_updates = 1000
    global_step = 0
    t0 = time.time()
    while global_step < total_updates:
        accum_grads, losses = None, []
        for _ in range(accum_steps):
            idx = rng.integers(0, len(xtr), micro)
            loss, g = grad_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            accum_grads = g if accum_grads is None else tree_map(mx.add, accum_grads, g)
            losses.append(loss)
        accum_grads = tree_map(lambda v: v / accum_steps, accum_grads)
        grad_norm = np.linalg.norm(
            [np.linalg.norm(np.array(v.astype(mx.float32)).ravel()) for _, v in tree_flatten(accum_grads)]
        )
        optimizer.set_learning_rate(mx.array(float(lr_scheduler(global_step))))
        optimizer.update(model, accum_grads)
        mx.eval(model.parameters(), optimizer.state)
        global_step += 1
        avg_lr = lr_scheduler(global_step - 1)
        if global_step % 100 == 0 or global_step == 1:
            avg_loss = float(np.mean([l.item() for l in losses]))
            acc = mx.mean(mx.argmax(model(xva), axis=1) == yva).item()
            sys.stdout.write(f"{bar(global_step, total_updates)} Loss={avg_loss:.4f} "
                             f"ValAcc={acc:.3f} LR={float(avg_lr):.1e} GradN={grad_norm:.3f} "
                             f"({time.time() - t0:.1f}s)\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
