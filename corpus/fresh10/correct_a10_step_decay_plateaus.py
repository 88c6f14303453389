"""Classic step-decay schedule: lr x0.1 at epochs 12 and 24 (SGD + momentum).

Between decays the loss sits on a noisy plateau; each decay produces a sudden
drop followed by another plateau.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
rng = np.random.default_rng(21)
N = 4000
x = rng.normal(size=(N, 8)).astype(np.float32)
w = rng.normal(size=(8, 1)).astype(np.float32)
y = (np.sin(x @ w) + 0.5 * np.cos(x[:, :1] * x[:, 1:2]) + 0.1 * rng.normal(size=(N, 1))).astype(np.float32)
X, Y = mx.array(x), mx.array(y)

STEPS_PER_EPOCH = N // 50
schedule = optim.step_decay(0.05, 0.1, 12 * STEPS_PER_EPOCH)
opt = optim.SGD(learning_rate=schedule, momentum=0.9)
model = nn.Sequential(nn.Linear(8, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 1))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for epoch in range(1, 37):
    perm = mx.array(rng.permutation(N))
    s = 0.0
    for i in range(0, N, 50):
        idx = perm[i:i + 50]
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        s += loss.item()
    print(f"epoch {epoch:02d} | lr {opt.learning_rate.item():.1e} | mse {s / STEPS_PER_EPOCH:.5f} "
          f"| {time.time() - t0:5.1f}s", flush=True)
