"""Wood-fired pizza oven: wood burn (kg/h) needed to hold a floor temperature.

Data-parallel ready: gradients go through mx.distributed all_sum and are
divided by the world size (one process here, so the group has size 1).
The step is compiled with model/optimizer state as inputs/outputs, the
learning rate warms up from exactly 0, and the logged loss is a
bias-corrected exponential moving average. Output: one JSON object per line.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def oven_logs(n, rng):
    dome = rng.choice([80, 100, 120, 140], n).astype(np.float64)        # dome diameter cm
    floor_t = rng.uniform(330, 480, n)                                  # target floor C
    t_amb = rng.uniform(-2, 34, n)                                      # C
    door = rng.beta(2, 5, n)                                            # fraction door open
    moist = rng.uniform(0.10, 0.30, n)                                  # wood moisture
    pizzas = rng.poisson(18, n).astype(np.float64)                      # per hour
    area = (dome / 100) ** 2
    loss_kw = area * (0.011 * (floor_t - t_amb) ** 1.25 * (1 + 1.8 * door)) + 0.12 * pizzas
    burn = loss_kw / (4.3 * (1 - 1.15 * moist)) + 0.4
    burn *= np.exp(rng.normal(0, 0.05, n))
    x = np.stack([(dome - 110) / 22, (floor_t - 405) / 43, (t_amb - 16) / 10.4,
                  (door - 0.29) / 0.16, (moist - 0.2) / 0.058, (pizzas - 18) / 4.2], 1).astype(np.float32)
    return x, np.log(burn).astype(np.float32)


class ResBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.fc2(nn.silu(self.fc1(self.norm(h))))


class OvenModel(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.inp = nn.Linear(6, d)
        self.blocks = [ResBlock(d), ResBlock(d)]
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.out(h)[:, 0]


def main():
    group = mx.distributed.init()
    world, rank = group.size(), group.rank()
    rng = np.random.default_rng(100 + rank)
    xtr, ytr = oven_logs(12000, rng)
    xva, yva = oven_logs(2000, np.random.default_rng(999))
    mu, sd = float(ytr.mean()), float(ytr.std())
    ytr, yva = (ytr - mu) / sd, (yva - mu) / sd

    mx.random.seed(0)
    model = OvenModel()
    mx.eval(model.parameters())
    total_steps = 1500
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm),
         optim.cosine_decay(4e-3, total_steps - warm, 1e-5)], [warm])
    opt = optim.Adamax(learning_rate=sched)

    def mse(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    vg = nn.value_and_grad(model, mse)

    # first-batch check before compiling: all leaves receive gradient
    _, g0 = vg(model, mx.array(xtr[:256]), mx.array(ytr[:256]))
    zero = [k for k, v in tree_flatten(g0) if not mx.any(v != 0).item()]
    print(json.dumps({"event": "grad_check", "leaves": len(tree_flatten(g0)), "zero_grad": zero,
                      "world": world}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        opt.update(model, grads)
        return loss

    bs, ema, beta = 128, 0.0, 0.98
    t0 = time.perf_counter()
    for it in range(1, total_steps + 1):
        idx = rng.integers(0, len(ytr), bs)
        loss = step(mx.array(xtr[idx]), mx.array(ytr[idx]))
        mx.eval(loss, state)
        ema = beta * ema + (1 - beta) * loss.item()
        if it % 150 == 0 or it == 1:
            pred = model(mx.array(xva))
            val_mse = mx.mean((pred - mx.array(yva)) ** 2).item()
            # relative error of wood burn in kg/h, back in original units
            rel = mx.mean(mx.abs(mx.exp(pred * sd + mu) / mx.exp(mx.array(yva) * sd + mu) - 1)).item()
            print(json.dumps({"step": it, "lr": round(float(opt.learning_rate.item()), 6),
                              "train_mse_ema": round(ema / (1 - beta ** it), 5),
                              "val_mse": round(val_mse, 5), "val_wood_rel_err_pct": round(100 * rel, 2),
                              "elapsed_s": round(time.perf_counter() - t0, 2)}))
    print(json.dumps({"event": "done", "final_val_mse": round(val_mse, 5)}))


if __name__ == "__main__":
    main()
