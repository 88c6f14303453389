# One-step-ahead forecasting of noisy AR(2) series with an nn.LSTM (teacher forcing).
# Reports are Fortran NAMELIST groups so a legacy plotting tool can read them.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
PHI1, PHI2, SIGMA = 1.6, -0.8, 0.3
L, B = 30, 64


def make_series(n):
    eps = SIGMA * mx.random.normal((n, L + 2))
    xs = [mx.zeros((n,)), mx.zeros((n,))]
    for t in range(2, L + 2):
        xs.append(PHI1 * xs[-1] + PHI2 * xs[-2] + eps[:, t])
    x = mx.stack(xs[2:], axis=1)
    return (x / 1.2)[..., None]                    # (n, L, 1), rough unit scale


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 24)
        self.head = nn.Linear(24, 1)

    def __call__(self, x):
        h, _ = self.lstm(x)
        return self.head(h)


def loss_fn(m, x):
    pred = m(x[:, :-1])
    return mx.mean((pred - x[:, 1:]) ** 2)


model = Forecaster()
mx.eval(model.parameters())
pool = make_series(4096)
val = make_series(256)
mx.eval(pool, val)


def batch():
    return pool[mx.random.randint(0, 4096, (B,))]

vg = nn.value_and_grad(model, loss_fn)
_, g = vg(model, batch())
leaf = {k: mx.abs(v).max().item() for k, v in tree_flatten(g)}
print(" &gradcheck " + ", ".join(f"{k.replace('.', '_')}={v:.3e}" for k, v in leaf.items()) + " /")
floor = (SIGMA / 1.2) ** 2
print(f" &setup noise_floor_mse={floor:.5f}, naive_last_value_mse="
      f"{mx.mean((val[:, :-1] - val[:, 1:]) ** 2).item():.5f} /")

opt = optim.SGD(learning_rate=0.05, momentum=0.9)
t0 = time.time()
ema = None
for it in range(1, 301):
    loss, grads = vg(model, batch())
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if it in (1, 25, 50, 100, 150) or it % 50 == 0:
        v = loss_fn(model, val).item()
        print(f" &report iter={it}, batch_mse={loss.item():.5f}, ema_mse={ema:.5f}, "
              f"val_mse={v:.5f}, ratio_to_floor={v / floor:.3f}, gnorm={gnorm.item():.3f}, "
              f"wall={time.time() - t0:.1f} /")
print(" &done status='ok' /")
