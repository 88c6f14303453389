# Overhead contact-wire sag (mm) at mid-span from line survey readings.
# Hand-rolled SGD with dampening + Nesterov momentum (ported from an old snippet).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class NesterovSGD(optim.Optimizer):
    def __init__(self, learning_rate, momentum=0.0, weight_decay=0.0,
                 dampening=0.0, nesterov=False):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        if self.momentum <= 0:
            return parameter - lr * gradient
        v = state["v"]
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        v = self.momentum * v + (1 - self.dampening) * gradient
        if self.nesterov:
            update = gradient + self.momentum * v
        else:
            update = v
        state["v"] = v
        return parameter - lr * update


rng = np.random.default_rng(11)
N = 3000
span = rng.uniform(40, 70, N)          # m
tension = rng.uniform(8, 14, N)        # kN
temp = rng.uniform(-15, 40, N)         # deg C
ice = rng.exponential(0.3, N)          # kg/m
age = rng.uniform(0, 30, N)            # years
w = 1.1 + ice
sag = (w * 9.81 * span ** 2) / (8 * tension * 1000) * 1000 * (1 + 0.0004 * (temp - 10)) * (1 + 0.004 * age)
sag = sag + rng.normal(0, 6, N)
X = np.stack([span, tension, temp, ice, age], 1).astype(np.float32)
mu, sd = X.mean(0), X.std(0)
X = (X - mu) / sd
y = sag.astype(np.float32)
ym, ys = y.mean(), y.std()
Xtr, ytr = mx.array(X[:2400]), mx.array((y[:2400] - ym) / ys)
Xva, yva = mx.array(X[2400:]), mx.array(y[2400:])

model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
mx.eval(model.parameters())
opt = NesterovSGD(learning_rate=0.02, momentum=0.9, nesterov=True)


def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb).squeeze(-1), yb)


step_fn = nn.value_and_grad(model, loss_fn)
bs = 100
print("step   train_mse(z)   val_rmse_mm")
for step in range(1, 601):
    idx = mx.array(np.random.default_rng(step).integers(0, 2400, bs))
    loss, grads = step_fn(model, Xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        pred = model(Xva).squeeze(-1) * ys + ym
        rmse = mx.sqrt(mx.mean((pred - yva) ** 2)).item()
        print(f"{step:5d}   {loss.item():12.4f}   {rmse:10.2f}")
print(f"baseline (predict mean) rmse: {float(np.sqrt(np.mean((y[2400:] - ym) ** 2))):.2f} mm")
