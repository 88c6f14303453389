"""Seismic first-arrival (P-wave onset) picker.

A small 1-D conv net scores every sample of a 128-sample trace; the pick is
the soft-argmax of those scores (expected index under softmax), trained with
a Huber loss on the pick error in samples.  AdamW, linear warm-up then cosine.
Progress is printed as a fixed-width station bulletin.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T = 128


def synth(rng, n):
    t = np.arange(T)
    onset = rng.uniform(20, 100, size=n)
    freq = rng.uniform(0.12, 0.3, size=n)
    amp = rng.uniform(1.0, 3.0, size=n)
    decay = rng.uniform(0.02, 0.06, size=n)
    dt = t[None, :] - onset[:, None]
    wave = np.where(dt > 0, amp[:, None] * np.sin(2 * np.pi * freq[:, None] * dt)
                    * np.exp(-decay[:, None] * dt) * np.minimum(dt / 3.0, 1.0), 0.0)
    noise = rng.normal(0, 0.35, size=(n, T))
    x = (wave + noise).astype(np.float32)[..., None]  # (N, T, 1)
    return mx.array(x), mx.array(onset.astype(np.float32))


class Picker(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=9, padding=4)
        self.c2 = nn.Conv1d(16, 16, kernel_size=9, padding=4)
        self.head = nn.Conv1d(16, 1, kernel_size=1)
        self.grid = mx.arange(T, dtype=mx.float32)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        s = self.head(h)[..., 0]                # (B, T)
        p = mx.softmax(s, axis=-1)
        return (p * self.grid).sum(axis=-1)      # expected onset index


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    x_val, t_val = synth(rng, 512)
    model = Picker()
    model.freeze(keys=["grid"], strict=False)   # index grid is a constant
    mx.eval(model.parameters())

    def loss_fn(m, x, t):
        return nn.losses.huber_loss(m(x), t, delta=2.0, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    steps = 500
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-4, 3e-3, 50), optim.cosine_decay(3e-3, steps - 50, 1e-5)], [50])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    print("STATION  PICKER-01  first-arrival training bulletin")
    print("%-6s %-10s %-9s %-9s %-8s %-8s" % ("STEP", "LR", "HUBER", "VAL_MAE", "W/IN2", "SEC"))
    t0 = time.time()
    err = mx.abs(model(x_val) - t_val)
    print("%-6d %-10s %-9s %-9.3f %-8.3f %-8.1f" % (
        0, "-", "-", float(err.mean()), float((err <= 2.0).mean()), 0.0))
    for step in range(1, steps + 1):
        x, t = synth(rng, 64)
        loss, grads = vg(model, x, t)
        if step == 1:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print("GRADCHK  leaves=%d  zero-grad leaves=%s" % (len(tree_flatten(grads)), zero or "none"))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            err = mx.abs(model(x_val) - t_val)
            mae = float(err.mean()); win2 = float((err <= 2.0).mean())
            print("%-6d %-10.2e %-9.4f %-9.3f %-8.3f %-8.1f" % (
                step, float(opt.learning_rate), float(loss), mae, win2, time.time() - t0))
    print("END OF BULLETIN")


if __name__ == "__main__":
    main()
