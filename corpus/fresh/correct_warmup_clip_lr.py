"""Correct loop: linear warmup then cosine decay, global-norm gradient clipping, lr printed.

The learning rate rises from 0 during warmup (the loss moves little in the first steps), then
decays; the gradient norm is reported before clipping, so it often sits above max_norm early
on. Both are normal for this recipe.
"""

import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
mx.random.seed(21)
D = 24
W_true = mx.random.normal((D, 1))
X = mx.random.normal((4096, D))
Y = mx.sin(X @ W_true / 2.0) + 0.05 * mx.random.normal((4096, 1))

WARMUP, TOTAL = 100, 900
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARMUP), optim.cosine_decay(3e-3, TOTAL - WARMUP, 1e-5)],
    [WARMUP],
)
model = nn.Sequential(nn.Linear(D, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                      nn.Linear(128, 1))
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.05)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
for step in range(1, TOTAL + 1):
    idx = mx.random.randint(0, 4096, (128,))
    loss, grads = vg(model, X[idx], Y[idx])
    grads, grad_norm = optim.clip_grad_norm(grads, max_norm=1.0)
    lr = opt.learning_rate
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, grad_norm)
    if step % 30 == 0:
        logging.info("step %4d/%d lr=%.2e loss=%.5f grad_norm=%.3f", step, TOTAL, lr.item(),
                     loss.item(), grad_norm.item())
