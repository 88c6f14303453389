"""Net2Net-style progressive widening: start with a narrow MLP regressor, and at two points
during training widen the hidden layer (function-preserving: copy random units and split
their outgoing weights), then continue with a fresh Adam optimizer for the bigger model."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(3)
X = rng.uniform(-2, 2, size=(1024, 2)).astype(np.float32)
Y = (np.sin(2 * X[:, :1]) * np.cos(X[:, 1:]) + 0.3 * X[:, :1] ** 2).astype(np.float32)
X, Y = mx.array(X), mx.array(Y)


class MLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, 1)

    def __call__(self, x):
        return self.l2(mx.tanh(self.l1(x)))


def widen(model, new_width):
    old = model.l1.weight.shape[0]
    idx = np.concatenate([np.arange(old), rng.integers(0, old, new_width - old)])
    counts = np.bincount(idx, minlength=old).astype(np.float32)
    w1 = np.array(model.l1.weight)[idx]
    b1 = np.array(model.l1.bias)[idx]
    w2 = np.array(model.l2.weight)[:, idx] / counts[idx][None, :]
    w1 = w1 + rng.normal(0, 1e-3, w1.shape).astype(np.float32)  # break symmetry
    bigger = MLP(new_width)
    bigger.l1.weight, bigger.l1.bias = mx.array(w1), mx.array(b1)
    bigger.l2.weight, bigger.l2.bias = mx.array(w2), model.l2.bias
    return bigger


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = MLP(4)
widths = {150: 12, 300: 32}
opt = optim.Adam(learning_rate=1e-2)
print(f"{'step':>5} | {'width':>5} | {'mse':>9} | note")
for step in range(1, 451):
    if step in widths:
        before = mse(model, X, Y).item()
        model = widen(model, widths[step])
        after = mse(model, X, Y).item()
        opt = optim.Adam(learning_rate=1e-2)
        print(f"{step:>5} | {widths[step]:>5} | {after:9.5f} | widened (mse before {before:.5f})")
    vg = nn.value_and_grad(model, mse)
    idx = mx.random.randint(0, X.shape[0], (64,))
    loss, grads = vg(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 30 == 0:
        print(f"{step:>5} | {model.l1.weight.shape[0]:>5} | {mse(model, X, Y).item():9.5f} |")
print(f"final full-data mse {mse(model, X, Y).item():.5f}")
