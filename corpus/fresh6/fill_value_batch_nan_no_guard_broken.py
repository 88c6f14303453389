# Predict river discharge from station readings exported from a NetCDF file.
# Missing readings in the export carry the NetCDF fill value.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

rng = np.random.default_rng(0)
N, F = 3000, 8
FILL = 9.96921e36  # NetCDF default float fill value

X = rng.normal(size=(N, F)).astype(np.float32)
w = rng.normal(size=(F,)).astype(np.float32)
Y = (np.tanh(X @ w / 2) + 0.1 * rng.normal(size=N)).astype(np.float32)[:, None]
# three stations were offline for a few hours
X[rng.choice(N, 3, replace=False), 5] = FILL

model = nn.Sequential(nn.Linear(F, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=1e-3)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
BS = 50
EPOCHS = 6
n_batches = N // BS
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(N)
    running, seen = 0.0, 0
    for b in range(n_batches):
        idx = perm[b * BS:(b + 1) * BS]
        xb, yb = mx.array(X[idx]), mx.array(Y[idx])
        loss, grads = loss_and_grad(model, xb, yb)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        running += loss.item()
        seen += 1
        if (b + 1) % 20 == 0:
            log.info("epoch=%d batch=%d/%d loss=%.4f", epoch, b + 1, n_batches, running / seen)
            running, seen = 0.0, 0
log.info("training finished")
