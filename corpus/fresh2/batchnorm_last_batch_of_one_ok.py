"""Tabular regression with a BatchNorm MLP; a tqdm-like progress bar per epoch, the data set
size is not a multiple of the batch size."""
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N, BS, EPOCHS = 1025, 32, 10
mx.random.seed(12)
X = mx.random.normal((N, 6)) * mx.array([1.0, 5.0, 0.1, 2.0, 1.0, 3.0])
Y = (X[:, :1] * 0.5 - X[:, 1:2] * 0.1 + mx.sin(X[:, 3:4]))

model = nn.Sequential(nn.Linear(6, 32), nn.BatchNorm(32), nn.ReLU(), nn.Linear(32, 1))
opt = optim.RMSprop(learning_rate=1e-2)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def batches():
    perm = mx.random.permutation(N)
    for i in range(0, N - BS + 1, BS):
        idx = perm[i:i + BS]
        yield X[idx], Y[idx]


step = nn.value_and_grad(model, loss_fn)
nb = (N + BS - 1) // BS
for epoch in range(1, EPOCHS + 1):
    model.train()
    total = 0.0
    for b, (x, y) in enumerate(batches(), start=1):
        loss, g = step(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item()
        bar = "#" * (20 * b // nb)
        sys.stdout.write(f"\repoch {epoch} |{bar:<20}| {b}/{nb} mse={total / b:.4f}")
        sys.stdout.flush()
    model.eval()
    val = loss_fn(model, X, Y).item()
    sys.stdout.write(f"  eval_mse={val:.4f}\n")
