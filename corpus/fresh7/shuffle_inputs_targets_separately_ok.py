"""Two-moons-like classification ported from a NumPy script that used
np.random.shuffle on the arrays each epoch; the shuffling is now done with MLX."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)
N = 2400
t = mx.random.uniform(0, math.pi, (N,))
lab = mx.random.randint(0, 2, (N,))
xs = mx.where(lab == 0, mx.cos(t), 1 - mx.cos(t))
ys = mx.where(lab == 0, mx.sin(t), 0.5 - mx.sin(t))
X = mx.stack([xs, ys], axis=1) + 0.1 * mx.random.normal((N, 2))
Y = lab

model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
opt = optim.Lion(learning_rate=1e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
B = 48
for epoch in range(1, 13):
    # reshuffle the training set every epoch
    perm = mx.random.permutation(N)
    X, Y = X[perm], Y[perm]
    err_sum = 0.0
    for i in range(0, N, B):
        loss, grads = step(model, X[i:i + B], Y[i:i + B])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        err_sum += loss.item()
    acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
    print(f"epoch {epoch:02d}: xent={err_sum / (N // B):.4f} train_acc={acc:.3f}")
