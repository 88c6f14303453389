"""Surrogate for the Mackenzie (1981) nine-term sound-speed equation.

Inputs: temperature (C), salinity (PSU), depth (m) from a synthetic CTD cast
archive; target: sound speed in m/s plus 0.05 m/s instrument noise.
A SiLU MLP on standardised inputs, Adam with a warm-up + cosine schedule,
compiled step.  Every record is one JSON object per line (NDJSON).
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def mackenzie(T, S, D):
    return (1448.96 + 4.591 * T - 5.304e-2 * T**2 + 2.374e-4 * T**3
            + 1.340 * (S - 35) + 1.630e-2 * D + 1.675e-7 * D**2
            - 1.025e-2 * T * (S - 35) - 7.139e-13 * T * D**3)


def casts(rng, n):
    D = rng.uniform(0, 4000, n)
    # temperature falls with depth (thermocline), plus regional spread
    T = 2.0 + 24.0 * np.exp(-D / 700.0) + rng.normal(0, 1.5, n)
    T = np.clip(T, -1.5, 30.0)
    S = 34.0 + 1.5 * rng.random(n) + 0.3 * np.exp(-D / 500.0) * rng.normal(0, 1, n)
    c = mackenzie(T, S, D) + rng.normal(0, 0.05, n)
    return np.stack([T, S, D], 1).astype(np.float32), c.astype(np.float32)


class Surrogate(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(3, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def emit(**rec):
    print(json.dumps(rec, separators=(",", ":")), flush=True)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = casts(rng, 6000)
    Xte, yte = casts(rng, 1500)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    cmu, csd = float(ytr.mean()), float(ytr.std())
    norm = lambda X: mx.array((X - mu) / sd)
    Xtr_m, Xte_m = norm(Xtr), norm(Xte)
    ytr_m = mx.array((ytr - cmu) / csd)
    yte_np = yte

    model = Surrogate()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    epochs, bs = 30, 100
    steps = epochs * (len(Xtr) // bs)
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-4, 3e-3, 200), optim.cosine_decay(3e-3, steps - 200, 3e-5)],
        [200])
    opt = optim.Adam(learning_rate=sched)

    # first-step gradient check on every leaf
    _, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr_m[:bs], ytr_m[:bs])
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    emit(event="gradcheck", leaves=len(flat), zero_grad_leaves=zero)

    base = float(np.sqrt(np.mean((yte_np - ytr.mean()) ** 2)))
    emit(event="baseline", predictor="train_mean", test_rmse_ms=round(base, 3))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return loss

    t0 = time.perf_counter()
    n = len(Xtr)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = step(Xtr_m[idx], ytr_m[idx])
            mx.eval(state)
            tot += loss.item()
        pred = np.array(model(Xte_m)) * csd + cmu
        rmse = float(np.sqrt(np.mean((pred - yte_np) ** 2)))
        emit(event="epoch", epoch=ep, train_mse_std=round(tot / (n // bs), 6),
             test_rmse_ms=round(rmse, 4), lr=float(f"{opt.learning_rate.item():.3e}"),
             secs=round(time.perf_counter() - t0, 2))
    deep = Xte[:, 2] > 2000
    pred = np.array(model(Xte_m)) * csd + cmu
    emit(event="done", test_rmse_ms=round(float(np.sqrt(np.mean((pred - yte_np) ** 2))), 4),
         deep_rmse_ms=round(float(np.sqrt(np.mean((pred[deep] - yte_np[deep]) ** 2))), 4),
         noise_floor_ms=0.05)


if __name__ == "__main__":
    main()
