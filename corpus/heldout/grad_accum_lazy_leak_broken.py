"""Large effective batch through gradient accumulation (many micro-batches per update).

Micro-batches come from a NumPy data loader; gradients are summed with tree_map
and applied once per accumulation window.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

IN_DIM, OUT_DIM, MICRO_BATCH = 256, 64, 16
GRAD_ACCUM_STEPS, UPDATES = 4096, 1

rng = np.random.default_rng(0)
true_w = rng.normal(size=(IN_DIM, OUT_DIM)).astype(np.float32) / 16


def data_loader():
    while True:
        x = rng.normal(size=(MICRO_BATCH, IN_DIM)).astype(np.float32)
        y = x @ true_w + 0.1 * rng.normal(size=(MICRO_BATCH, OUT_DIM)).astype(np.float32)
        yield mx.array(x), mx.array(y)


model = nn.Linear(IN_DIM, OUT_DIM)
optimizer = optim.SGD(learning_rate=0.5)
loss_and_grad_fn = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
batches = data_loader()

for update in range(1, UPDATES + 1):
    grads_accum = None
    total = 0.0
    for micro in range(1, GRAD_ACCUM_STEPS + 1):
        x, y = next(batches)
        loss, grads = loss_and_grad_fn(model, x, y)
        if grads_accum is None:
            grads_accum = grads
        else:
            grads_accum = tree_map(mx.add, grads_accum, grads)
        total = total + loss
        if micro % 512 == 0:
            print(f"update {update}: accumulated {micro}/{GRAD_ACCUM_STEPS} micro-batches")
    grads_accum = tree_map(lambda g: g / GRAD_ACCUM_STEPS, grads_accum)
    optimizer.update(model, grads_accum)
    mx.eval(model.parameters(), optimizer.state)
    print(f"update {update}: mean micro-batch loss {total.item() / GRAD_ACCUM_STEPS:.4f}")
