"""Tabular classifier with a hand-written RMSNorm; rows with missing features are zero-filled."""
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("tabular")

mx.random.seed(1)
N, D = 1024, 12
X = mx.random.normal((N, D))
W_true = mx.random.normal((D,))
Y = (X @ W_true > 0).astype(mx.int32)
missing = mx.random.uniform(shape=(N, 1)) < 0.05
X = mx.where(missing, 0.0, X)


class RMSNorm(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.weight = mx.ones((dims,))

    def __call__(self, x):
        ms = mx.mean(x * x, axis=-1, keepdims=True)
        return self.weight * x * mx.rsqrt(ms)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RMSNorm(D)
        self.fc1 = nn.Linear(D, 32)
        self.fc2 = nn.Linear(32, 2)

    def __call__(self, x):
        return self.fc2(nn.relu(self.fc1(self.norm(x))))


model = Net()
opt = optim.AdamW(learning_rate=2e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
for it in range(400):
    idx = mx.random.randint(0, N, (64,))
    loss, grads = step(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0:
        acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
        log.info("it=%d loss=%.4f acc=%.3f", it, loss.item(), acc)
