"""MLP with weight-normalised linear layers (w = g * v/||v||), trained with Adam (MLX)."""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(31)


class WeightNormLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        scale = 1.0 / math.sqrt(d_in)
        self.v = mx.random.uniform(-scale, scale, (d_out, d_in))
        self.g = mx.ones((d_out,))
        self.b = mx.zeros((d_out,))

    def __call__(self, x):
        direction = self.v / mx.linalg.norm(self.v, axis=1, keepdims=True)
        return (x @ direction.T) * self.g + self.b


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = WeightNormLinear(30, 32)
        self.l2 = WeightNormLinear(32, 32)
        self.l3 = WeightNormLinear(32, 1)

    def __call__(self, x):
        return self.l3(nn.relu(self.l2(nn.relu(self.l1(x)))))


U = rng.normal(0, 1, (30, 2)).astype(np.float32) / np.sqrt(30.0)


def make(n):
    x = rng.normal(0, 1, (n, 30)).astype(np.float32)
    p = x @ U * 3.0
    y = (np.sin(p[:, 0]) + 0.5 * p[:, 1] * np.tanh(p[:, 0]))[:, None].astype(np.float32)
    return mx.array(x), mx.array(y)


mx.random.seed(2)
model = Net()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
xv, yv = make(2000)

step = 0
while step < 1500:
    x, y = make(128)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    step += 1
    if step % 100 == 0:
        val = nn.losses.mse_loss(model(xv), yv).item()
        print(f"iter {step:4d}  mse {loss.item():.5f}  val_mse {val:.5f}")
