"""Conditional MLP; batches come from a loader that yields (features, caption bytes, target)."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class CondMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj_in = nn.Linear(32, 128)
        self.mlp = [nn.Linear(128, 128) for _ in range(3)]
        self.proj_out = nn.Linear(128, 1)

    def __call__(self, x, text):
        x = self.proj_in(x)
        for layer in self.mlp:
            x = nn.relu(layer(x))
        return self.proj_out(x)


def loader(n):
    for i in range(n):
        x = mx.random.normal((16, 32))
        yield x, f"caption for sample {i}".encode(), x[:, :1] * 0.5


model = CondMLP()
opt = optim.Adam(learning_rate=1e-3)
state = [model.state, opt.state]


def loss_fn(m, x, text, y):
    return nn.losses.mse_loss(m(x, text), y)


@partial(mx.compile, inputs=state, outputs=state)
def step(x, text, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, text, y)
    opt.update(model, grads)
    return loss


for i, (x, raw, y) in enumerate(loader(1500)):
    text = raw.decode("utf-8")
    loss = step(x, text, y)
    mx.eval(state, loss)
    if i % 250 == 0:
        print({"step": i, "loss": round(loss.item(), 5),
               "active_mb": round(mx.get_active_memory() / 2**20, 1)}, flush=True)
