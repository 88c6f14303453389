"""A tiny regression whose log prints a warm-up and cosine learning rate. Broken (default): the
optimizer is built with a hard-coded constant, so the printed schedule never reaches it
(fresh146 `shiftlog_gpt_lrsched`). `--fixed`: the schedule is handed to the optimizer."""

import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

STEPS, WARMUP, PEAK = 120, 12, 3e-2


def printed_rate(step: int) -> float:
    if step < WARMUP:
        return PEAK * (step + 1) / WARMUP
    done = (step - WARMUP) / (STEPS - WARMUP)
    return 0.1 * PEAK + 0.5 * (1 + math.cos(math.pi * done)) * 0.9 * PEAK


schedule = optim.join_schedules([optim.linear_schedule(PEAK / WARMUP, PEAK, WARMUP),
                                 optim.cosine_decay(PEAK, STEPS - WARMUP, 0.1 * PEAK)],
                                [WARMUP])
mx.random.seed(0)
x = mx.random.normal((256, 8))
y = x @ mx.random.normal((8, 1))
model = nn.Linear(8, 1)
optimizer = optim.Adam(learning_rate=schedule if "--fixed" in sys.argv else 1e-3)
step_fn = nn.value_and_grad(model, lambda m: nn.losses.mse_loss(m(x), y))
for step in range(STEPS):
    loss, grads = step_fn(model)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    if step % 10 == 0:
        print(f"step {step}: loss {loss.item():.4f}, lr {printed_rate(step):.2e}")
