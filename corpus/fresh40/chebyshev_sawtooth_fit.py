"""Spectral regression: fit a noisy sawtooth on [-1, 1] with a learned Chebyshev
expansion (degree 24, three-term recurrence) plus a small tanh MLP residual.
The jump at x=0.3 gives a Gibbs floor, so the fit plateaus well above zero.
SGD with Nesterov momentum, step-decayed lr.
"""
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)
DEG = 24


def target(x):
    # sawtooth with a jump at 0.3, plus a slow bump
    return mx.where(x < 0.3, x + 0.7, x - 1.3) + 0.4 * mx.exp(-8.0 * (x + 0.5) ** 2)


class ChebNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.coef = mx.zeros((DEG + 1,))
        self.res1 = nn.Linear(1, 24)
        self.res2 = nn.Linear(24, 1)

    def basis(self, x):
        t_prev, t_cur = mx.ones_like(x), x
        cols = [t_prev, t_cur]
        for _ in range(DEG - 1):
            t_prev, t_cur = t_cur, 2.0 * x * t_cur - t_prev
            cols.append(t_cur)
        return mx.stack(cols, axis=-1)

    def __call__(self, x):
        spec = self.basis(x) @ self.coef
        res = self.res2(mx.tanh(self.res1(x[:, None])))[:, 0]
        return spec + 0.1 * res


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = ChebNet()
sched = optim.step_decay(0.05, 0.5, 1500)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, mse)

x_val = mx.linspace(-1, 1, 801)
y_val = target(x_val)
var_val = mx.var(y_val).item()

print("{:>6} {:>9} {:>10} {:>8}".format("step", "lr", "val_mse", "R2(%)"))
for step in range(1, 6001):
    x = mx.random.uniform(-1, 1, (128,))
    y = target(x) + 0.02 * mx.random.normal((128,))
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 500 == 0 or step in (1, 100):
        v = mse(model, x_val, y_val).item()
        print("{:>6d} {:>9.5f} {:>10.5f} {:>8.2f}".format(
            step, opt.learning_rate.item(), v, 100.0 * (1.0 - v / var_val)))

coef = model.coef.tolist()
print("leading |coef|:", ", ".join(f"{abs(c):.3f}" for c in coef[:6]))
