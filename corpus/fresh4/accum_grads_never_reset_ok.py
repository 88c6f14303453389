"""Regression MLP with gradient accumulation over 4 micro-batches (ported from a PyTorch loop)."""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

mx.random.seed(0)
X = mx.random.uniform(-2, 2, (1024, 4))
y = mx.sin(X[:, :1]) + 0.5 * X[:, 1:2] * X[:, 2:3]

model = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 1))
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
ACCUM = 4
MB = 32


def mse(m, xb, yb):
    return mx.mean((m(xb) - yb) ** 2)


vg = nn.value_and_grad(model, mse)
acc = tree_map(mx.zeros_like, model.trainable_parameters())
it = 0
pos = 0
while it < 300:
    loss_sum = 0.0
    for _ in range(ACCUM):
        xb, yb = X[pos:pos + MB], y[pos:pos + MB]
        pos = (pos + MB) % X.shape[0]
        loss, g = vg(model, xb, yb)
        acc = tree_map(lambda a, b: a + b / ACCUM, acc, g)
        mx.eval(acc, loss)
        loss_sum += loss.item()
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state)
    acc = tree_map(mx.zeros_like, acc)
    it += 1
    if it % 20 == 0:
        log.info("update %d mse=%.5f", it, loss_sum / ACCUM)
