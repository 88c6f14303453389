"""Three-class spiral classifier; the gradient computation is wrapped in mx.compile
inside a small Trainer class."""
import math
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def spirals(n_per=300, seed=0):
    mx.random.seed(seed)
    xs, ys = [], []
    for c in range(3):
        t = mx.linspace(0.0, 1.0, n_per)
        r = t * 2.0
        a = t * 3.5 + c * 2 * math.pi / 3 + 0.15 * mx.random.normal((n_per,))
        xs.append(mx.stack([r * mx.cos(a), r * mx.sin(a)], axis=1))
        ys.append(mx.full((n_per,), c, dtype=mx.int32))
    return mx.concatenate(xs), mx.concatenate(ys)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 64)
        self.fc2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 3)

    def __call__(self, x):
        return self.out(nn.silu(self.fc2(nn.silu(self.fc1(x)))))


def nll(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class Trainer:
    def __init__(self, model, lr=1e-2):
        self.model = model
        self.opt = optim.Adam(learning_rate=lr)
        self._vg = nn.value_and_grad(model, nll)
        state = [model.state]
        self._grad_step = partial(mx.compile, inputs=state, outputs=state)(self._loss_and_grads)

    def _loss_and_grads(self, x, y):
        return self._vg(self.model, x, y)

    def train_step(self, x, y):
        loss, grads = self._grad_step(x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


X, Y = spirals()
model = Net()
mx.eval(model.parameters())
trainer = Trainer(model)
N = X.shape[0]
for epoch in range(12):
    perm = mx.random.permutation(N)
    vals = []
    for i in range(0, N, 90):
        idx = perm[i:i + 90]
        vals.append(trainer.train_step(X[idx], Y[idx]))
    print(f"epoch {epoch:2d}  nll={sum(vals) / len(vals):.4f}  last={vals[-1]:.4f}")
