"""Regression MLP trained with gradient accumulation (8 micro-batches per
optimizer step) to emulate a big batch on a small machine. Logs JSON lines."""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

D_IN, N = 16, 8192
W_true = rng.normal(size=(D_IN, 1)).astype(np.float32)
X = rng.normal(size=(N, D_IN)).astype(np.float32)
Y = (np.tanh(X @ W_true) * 3.0 + 0.1 * rng.normal(size=(N, 1))).astype(np.float32)

GRAD_ACCUMULATE = 8
MICRO_BATCH = 32
TOTAL_UPDATES = 150

model = nn.Sequential(nn.Linear(D_IN, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
mx.eval(model.parameters())
optimizer = optim.SGD(learning_rate=0.03, momentum=0.9)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, mse)


def micro_batches():
    while True:
        idx = rng.permutation(N)
        for s in range(0, N - MICRO_BATCH + 1, MICRO_BATCH):
            ids = idx[s : s + MICRO_BATCH]
            yield mx.array(X[ids]), mx.array(Y[ids])


stream = micro_batches()
update = 0
while update < TOTAL_UPDATES:
    prev_grads = None
    acc_loss = 0.0
    for _ in range(GRAD_ACCUMULATE - 1):
        x, y = next(stream)
        loss, grads = grad_fn(model, x, y)
        prev_grads = grads if prev_grads is None else tree_map(lambda a, b: a + b, prev_grads, grads)
        mx.eval(prev_grads, loss)
        acc_loss += loss.item()
    x, y = next(stream)
    loss, grads = grad_fn(model, x, y)
    grads = tree_map(lambda a, b: (a + b) / GRAD_ACCUMULATE, prev_grads, grads)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    acc_loss += loss.item()
    update += 1
    if update % 10 == 0 or update == 1:
        print(json.dumps({"update": update, "mse": round(acc_loss / GRAD_ACCUMULATE, 5),
                          "samples": update * GRAD_ACCUMULATE * MICRO_BATCH}))

xe, ye = mx.array(X[:1024]), mx.array(Y[:1024])
print(json.dumps({"final_eval_mse": round(mse(model, xe, ye).item(), 5)}))
