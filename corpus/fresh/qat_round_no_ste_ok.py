"""Quantization-aware training of a small MLP: hidden layers use int4 fake-quantized weights.

Reproduces the pitfall that ml-explore/mlx-lm#153 ("Quantization aware training") handles with
straight-through estimators: mx.round has a zero gradient, so fake-quantizing the weights as
round(w / s) * s gives those weights no gradient at all and they never move, while biases and
the float head keep training. The straight-through form w + stop_gradient(q(w) - w) fixes it.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2)
D_IN, H, K = 16, 64, 5


def fake_quant(w, bits=4):
    scale = mx.stop_gradient(mx.abs(w).max()) / (2 ** (bits - 1) - 1)
    return w + mx.stop_gradient(mx.round(w / scale) * scale - w)  # straight-through


class QLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        lim = (1.0 / d_in) ** 0.5
        self.weight = mx.random.uniform(-lim, lim, (d_out, d_in))
        self.bias = mx.zeros((d_out,))

    def __call__(self, x):
        return x @ fake_quant(self.weight).T + self.bias


class QATNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = QLinear(D_IN, H)
        self.fc2 = QLinear(H, H)
        self.head = nn.Linear(H, K)

    def __call__(self, x):
        return self.head(nn.relu(self.fc2(nn.relu(self.fc1(x)))))


teacher = nn.Sequential(nn.Linear(D_IN, 32), nn.Tanh(), nn.Linear(32, K))


def batches(n_steps, bs=128):
    for _ in range(n_steps):
        x = mx.random.normal((bs, D_IN))
        yield x, mx.argmax(teacher(x) * 4.0, axis=-1)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = QATNet()
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, loss_fn)
STEPS = 1500
for step, (x, y) in enumerate(batches(STEPS), start=1):
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        print(f"[{step:4d}/{STEPS}] loss {loss.item():.4f} lr {opt.learning_rate.item():.1e}",
              flush=True)
