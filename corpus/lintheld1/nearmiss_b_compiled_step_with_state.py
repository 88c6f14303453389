"""Quadratic-feature regression with a compiled training step that declares
the model and optimizer state it reads and writes."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Regressor(nn.Module):
    def __init__(self, d=4, width=16):
        super().__init__()
        self.hidden = nn.Linear(d, width)
        self.proj = nn.Linear(width, 1)

    def __call__(self, x):
        return self.proj(nn.tanh(self.hidden(x))).squeeze(-1)


def build(seed=0):
    mx.random.seed(seed)
    reg = Regressor()
    opt = optim.RMSprop(learning_rate=1e-2)
    state = [reg.state, opt.state]

    def mse(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    grad_fn = nn.value_and_grad(reg, mse)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = grad_fn(reg, xb, yb)
        opt.update(reg, grads)
        return loss

    return reg, opt, step


def main():
    reg, opt, step = build()
    x = mx.random.normal((1024, 4))
    y = x[:, 0] * x[:, 1] - 0.5 * x[:, 2] ** 2 + 0.3 * x[:, 3]
    for epoch in range(8):
        tot = 0.0
        for i in range(0, 1024, 64):
            loss = step(x[i:i + 64], y[i:i + 64])
            mx.eval(loss, reg.state, opt.state)
            tot += loss.item()
        print(f"epoch {epoch} mean mse {tot / 16:.4f}")


if __name__ == "__main__":
    main()
