"""Compiled training step with gradient-norm clipping (mlx-examples style loop) on a
heavy-tailed regression target (claim sizes)."""
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(42)
D = 16
w_true = mx.random.normal((D,)) * 0.4


def get_batch(step, bs=64):
    x = mx.random.normal((bs, D))
    base = (x @ w_true)[:, None]
    # a small fraction of claims are catastrophic (heavy tail)
    tail = (mx.random.uniform(shape=(bs, 1)) < 0.004) * mx.random.uniform(80.0, 200.0, (bs, 1))
    return x, base + tail


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = Regressor()
mx.eval(model.parameters())
optimizer = optim.SGD(learning_rate=0.03, momentum=0.9)
state = [model.state, optimizer.state]
GRAD_NORM = 1.0


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    clipped_grads, total_norm = optim.clip_grad_norm(grads, max_norm=GRAD_NORM)
    optimizer.update(model, clipped_grads)
    return loss, total_norm


xv = mx.random.normal((1024, D))
yv = (xv @ w_true)[:, None]
for it in range(1, 1201):
    x, y = get_batch(it)
    loss, gnorm = step(x, y)
    mx.eval(model.parameters(), optimizer.state, loss, gnorm)
    if it % 100 == 0:
        val = loss_fn(model, xv, yv).item()
        print(f"step {it} loss {loss.item():.4f} grad_norm {gnorm.item():.3e} val {val:.4f}")
