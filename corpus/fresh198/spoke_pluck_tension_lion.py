"""Wheel-build bench: estimate spoke tension (kgf) from a pluck-frequency reading.

Stage "round" trains on plain round spokes; stage "aero" then mixes in bladed
spokes (different mass per length) and a noisier phone-mic reading, so the loss
jumps when the stage starts before it comes back down.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

STEEL = 7.85e-6  # kg/mm^3


def bench_readings(rng, n, aero_frac, mic_noise):
    length = rng.uniform(250.0, 305.0, n)              # mm
    gauge = rng.choice([1.8, 2.0, 2.3], n)              # mm (round equivalent)
    bladed = (rng.random(n) < aero_frac).astype(np.float64)
    drive = (rng.random(n) < 0.5).astype(np.float64)
    tension = np.where(drive > 0, rng.uniform(95, 135, n), rng.uniform(55, 100, n))  # kgf
    mu = STEEL * math.pi * gauge ** 2 / 4.0 * (1.0 + 0.18 * bladed)  # kg/mm
    # f = 1/(2L) * sqrt(T/mu); T in N -> kg*m/s^2 = 1000 kg*mm/s^2
    f = np.sqrt(tension * 9.81 * 1000.0 / mu) / (2.0 * length)
    f = f * (1.0 + mic_noise * rng.standard_normal(n))
    x = np.stack([f / 400.0, length / 300.0 - 0.9, gauge - 2.0, bladed, drive], 1)
    return x.astype(np.float32), (tension / 100.0).astype(np.float32)[:, None]


class TensionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model = TensionNet()
    mx.eval(model.parameters())

    warm, total = 60, 900
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)],
        [warm],
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)

    def loss_fn(x, y):
        return nn.losses.huber_loss(model(x), y, delta=0.1, reduction="mean")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
        opt.update(model, grads)
        return loss

    hold_x, hold_y = bench_readings(np.random.default_rng(500), 1500, 0.5, 0.01)
    hx, hy = mx.array(hold_x), mx.array(hold_y)
    base_mae = float(np.abs(hold_y - hold_y.mean()).mean() * 100.0)

    stages = [("round", 0.0, 0.004, 400), ("aero", 0.5, 0.01, 500)]
    it = 0
    t0 = time.time()
    for name, aero, noise, n_steps in stages:
        for s in range(n_steps):
            xb, yb = bench_readings(rng, 128, aero, noise)
            loss = step(mx.array(xb), mx.array(yb))
            mx.eval(state, loss)
            it += 1
            if s % 100 == 0 or s == n_steps - 1:
                pred = model(hx)
                err = mx.abs(pred - hy) * 100.0
                rec = {
                    "stage": name,
                    "step": s,
                    "global_step": it,
                    "lr": round(float(opt.learning_rate), 6),
                    "huber": round(loss.item(), 5),
                    "holdout_mae_kgf": round(err.mean().item(), 3),
                    "baseline_mae_kgf": round(base_mae, 3),
                    "within_3kgf_pct": round(float((err < 3.0).mean().item() * 100), 1),
                }
                print(json.dumps(rec), flush=True)
    print(json.dumps({"done": True, "steps": it, "seconds": round(time.time() - t0, 2)}))


if __name__ == "__main__":
    main()
