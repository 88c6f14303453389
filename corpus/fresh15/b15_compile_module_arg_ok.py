"""Ridge-ish regression of a smooth 2-D field with a small MLP.
Compiles the loss-and-grad computation for speed."""
import time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N = 2048
X = mx.random.uniform(-1, 1, (N, 2))
Y = (mx.sin(3 * X[:, 0]) * mx.cos(2 * X[:, 1]))[:, None]


class Field(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.l1 = nn.Linear(2, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        return self.out(nn.tanh(self.l2(nn.tanh(self.l1(x)))))


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = Field()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)


def grad_step(x, y):
    return nn.value_and_grad(model, mse)(model, x, y)


state = [model.state]
grad_step = partial(mx.compile, inputs=state, outputs=state)(grad_step)

t0 = time.time()
bs = 128
for epoch in range(1, 9):
    perm = mx.random.permutation(N)
    tot = 0.0
    nb = 0
    for i in range(0, N, bs):
        idx = perm[i:i + bs]
        loss, grads = grad_step(X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    print(f"epoch {epoch:02d} | mse {tot / nb:.5f} | {time.time() - t0:.1f}s")
