"""Warm-started regression with periodic shrink-and-perturb (Ash & Adams, 2020).

Every CYCLE steps the weights are multiplied by SHRINK and Gaussian noise is added,
which deliberately knocks the loss back up; training then recovers. SGD + momentum.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)

N, DIN = 1024, 8
X = mx.random.normal((N, DIN))
w_true = mx.random.normal((DIN, 1))
Y = mx.sin(X @ w_true) + 0.3 * (X[:, :1] ** 2) + 0.05 * mx.random.normal((N, 1))

model = nn.Sequential(nn.Linear(DIN, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, dampening=0.1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


step_fn = nn.value_and_grad(model, mse)
CYCLE, CYCLES, SHRINK, NOISE, BATCH = 300, 4, 0.5, 0.01, 64


def weight_norm(m):
    return math.sqrt(sum((v * v).sum().item() for _, v in tree_flatten(m.parameters())))


step = 0
for cycle in range(1, CYCLES + 1):
    if cycle > 1:
        # shrink toward zero, then perturb: keeps what was learned but restores plasticity
        model.update(tree_map(lambda p: SHRINK * p + NOISE * mx.random.normal(p.shape), model.parameters()))
        mx.eval(model.parameters())
    for _ in range(CYCLE):
        step += 1
        idx = mx.random.randint(0, N, (BATCH,))
        loss, grads = step_fn(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step % CYCLE == 1:
            print(f"[cycle {cycle}/{CYCLES}] step {step:04d}  loss={loss.item():.4f}  |w|={weight_norm(model):.2f}")
    full = mse(model, X, Y).item()
    print(f"[cycle {cycle}/{CYCLES}] end-of-cycle full-data mse={full:.4f}")
print("finished")
