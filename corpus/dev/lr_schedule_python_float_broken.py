"""Spiral classifier trained by a small Trainer class with a hand-written warmup+cosine schedule."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("spiral")


def make_spirals(n, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.5, 3 * math.pi, size=n)
    label = rng.integers(0, 2, size=n)
    r = t / (3 * math.pi)
    ang = t + label * math.pi
    xy = np.stack([r * np.cos(ang), r * np.sin(ang)], 1) + rng.normal(0, 0.02, (n, 2))
    return xy.astype(np.float32), label.astype(np.int32)


def build_lr_schedule(base_lr, warmup, total):
    def schedule(step):
        step = int(step)
        if step < warmup:
            return base_lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return schedule


class Trainer:
    def __init__(self, steps=1500, batch=128):
        self.steps, self.batch = steps, batch
        self.model = nn.Sequential(nn.Linear(2, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                                   nn.Linear(64, 2))
        schedule = build_lr_schedule(3e-3, warmup=100, total=steps)
        self.opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
        self.x, self.y = make_spirals(4096)

    def loss_fn(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def train(self):
        step_fn = nn.value_and_grad(self.model, self.loss_fn)
        rng = np.random.default_rng(1)
        log.info("training %d steps", self.steps)
        for step in range(1, self.steps + 1):
            idx = rng.integers(0, len(self.x), self.batch)
            loss, grads = step_fn(self.model, mx.array(self.x[idx]), mx.array(self.y[idx]))
            self.opt.update(self.model, grads)
            mx.eval(loss, self.model.parameters(), self.opt.state)
            if step % 50 == 0:
                log.info("step %d loss %.4f lr %.2e", step, loss.item(),
                         self.opt.learning_rate.item())
        acc = (self.model(mx.array(self.x)).argmax(-1) == mx.array(self.y)).mean().item()
        log.info("train accuracy %.3f", acc)


if __name__ == "__main__":
    Trainer().train()
