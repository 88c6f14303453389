"""Tabular 4-class classifier; labels come out of the CSV-like loader as a column (N, 1)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N, D, C = 512, 8, 4
X = mx.random.normal((N, D))
W_true = mx.random.normal((D, C))
labels = mx.argmax(X @ W_true, axis=1).reshape(N, 1)  # one label per row, kept as a column


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 32)
        self.l2 = nn.Linear(32, C)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


model = Net()
opt = optim.Adam(learning_rate=1e-2)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
for epoch in range(6):
    tot = 0.0
    for i in range(0, N, 64):
        xb = X[i:i + 64]
        yb = labels[i:i + 64]
        loss, g = step(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
    print(f"epoch {epoch}: loss {tot / (N // 64):.4f}")
