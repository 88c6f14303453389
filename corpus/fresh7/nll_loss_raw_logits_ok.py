"""Three-class spiral classifier trained with an NLL objective (MLX)."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(0)


def make_spirals(n_per_class=200, classes=3):
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int32)


class Net(nn.Module):
    def __init__(self, hidden=48, classes=3):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def __call__(self, x):
        x = nn.relu(self.l1(x))
        x = nn.relu(self.l2(x))
        return self.out(x)


def loss_fn(model, x, y):
    logp = nn.log_softmax(model(x), axis=-1)
    return nn.losses.nll_loss(logp, y, reduction="mean")


X, Y = make_spirals()
X, Y = mx.array(X), mx.array(Y)
model = Net()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
step = nn.value_and_grad(model, loss_fn)

batch = 64
n = X.shape[0]
steps_per_epoch = math.ceil(n / batch)
for epoch in range(1, 31):
    perm = mx.array(rng.permutation(n))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * batch:(i + 1) * batch]
        loss, grads = step(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if i % 4 == 0:
            print(f"epoch {epoch} [{i + 1}/{steps_per_epoch}] nll={loss.item():.4f}")
    acc = mx.mean(mx.argmax(model(X), axis=1) == Y).item()
    print(f"epoch {epoch} done: mean nll={tot / steps_per_epoch:.4f} acc={acc:.3f}")
