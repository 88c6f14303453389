# Regression MLP trained with gradient accumulation inside a compiled step.
import json
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(0)

D_IN, D_H = 16, 64
ITERS = 400
ACCUM = 4
MICRO_BS = 32

W_TRUE = mx.random.normal((D_IN, 1), key=mx.random.key(7))


def get_batch():
    x = mx.random.normal((MICRO_BS, D_IN))
    y = mx.tanh(x @ W_TRUE) + 0.05 * mx.random.normal((MICRO_BS, 1))
    return x, y


model = nn.Sequential(nn.Linear(D_IN, D_H), nn.GELU(), nn.Linear(D_H, D_H), nn.GELU(), nn.Linear(D_H, 1))
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_value_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    lvalue, grad = loss_value_and_grad(model, x, y)
    if (it + 1) % ACCUM == 0:
        optimizer.update(model, grad)
    return lvalue / ACCUM


running = 0.0
for it in range(1, ITERS + 1):
    x, y = get_batch()
    lvalue = step(x, y)
    mx.eval(state, lvalue)
    running += lvalue.item() * ACCUM
    if it % 20 == 0:
        print(json.dumps({"iter": it, "train_mse": round(running / 20, 5)}))
        running = 0.0
