"""A tiny MLX regression whose encoder never trains when run with `broken` (its output goes
through mx.stop_gradient): the decoder still learns, so the loss falls. Prints `mse` lines."""

import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 16)
        self.dec = nn.Linear(16, 1)

    def __call__(self, x: mx.array) -> mx.array:
        h = nn.relu(self.enc(x))
        return self.dec(mx.stop_gradient(h) if sys.argv[1] == "broken" else h)


mx.random.seed(0)
model, opt = Net(), optim.Adam(1e-2)
x = mx.random.normal((256, 8))
y = x.sum(axis=1, keepdims=True)
step = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))
for i in range(240):
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if i % 20 == 0:
        print(f"it {i} | mse {loss.item():.5f}", flush=True)
    time.sleep(0.012)
