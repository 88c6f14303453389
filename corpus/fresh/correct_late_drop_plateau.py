"""Correct loop: learning sparse parity, where the loss sits on a long plateau and drops late.

A 4-bit parity hidden in 30 random bits is a textbook "plateau then sudden drop" task: for many
steps the loss stays near ln 2 (the network has not found the relevant bits yet), then it falls
quickly to near zero. Nothing is wrong during the plateau -- the parameters move every step.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
N_BITS, RELEVANT = 30, [1, 4, 7, 10]


def batch(n):
    x = (mx.random.uniform(shape=(n, N_BITS)) < 0.5).astype(mx.float32)
    y = x[:, RELEVANT].sum(axis=1) % 2
    return 2 * x - 1, y.astype(mx.int32)


model = nn.Sequential(nn.Linear(N_BITS, 64), nn.ReLU(), nn.Linear(64, 2))
opt = optim.SGD(learning_rate=0.01, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
xv, yv = batch(2000)
for it in range(1, 3501):
    x, y = batch(64)
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 100 == 0:
        acc = (mx.argmax(model(xv), -1) == yv).mean().item()
        print(f"step {it:4d} | loss {loss.item():.4f} | val_acc {acc:.3f}", flush=True)
