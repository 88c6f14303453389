# Hive-scale forage model: predict the daily weight change of a beehive (grams)
# from weather and season, with a hand-rolled AdaDelta (copied from the MLX docs
# formula so we can log the update size).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)


class AdaDelta(optim.Optimizer):
    """AdaDelta (Zeiler 2012)."""

    def __init__(self, learning_rate: float, rho: float = 0.9, eps: float = 1e-6):
        super().__init__()
        self.learning_rate = learning_rate
        self.rho = rho
        self.eps = eps

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate
        rho = self.rho
        eps = self.eps

        v = state.get("v", mx.zeros_like(gradient))
        u = state.get("u", mx.zeros_like(gradient))

        v = rho * v + (1 - rho) * mx.square(gradient)
        d = mx.sqrt(u + eps) / mx.sqrt(v + eps) * gradient
        u = rho * u + (1 - rho) * mx.square(d)

        state["v"] = v
        state["u"] = u

        return parameter - lr * d


def make_days(n):
    day = mx.random.uniform(0, 180, (n, 1))
    temp = 8 + 14 * mx.sin(math.pi * day / 180) + mx.random.normal((n, 1)) * 3
    rain = mx.maximum(mx.random.normal((n, 1)) * 6, 0)
    sun = mx.clip(10 - 0.6 * rain + mx.random.normal((n, 1)), 0, 14)
    wind = mx.abs(mx.random.normal((n, 1)) * 4)
    bloom = mx.exp(-((day - 95) ** 2) / (2 * 25.0**2))
    # grams per day: nectar flow when warm, sunny and in bloom; consumption otherwise
    gain = (
        1800 * bloom * mx.sigmoid((temp - 13) / 2) * (sun / 14)
        - 40 * rain
        - 25 * wind
        - 150
    )
    gain = gain + mx.random.normal((n, 1)) * 60
    x = mx.concatenate(
        [day / 90 - 1, (temp - 15) / 8, rain / 6, sun / 7 - 1, wind / 4, bloom], axis=1
    )
    return x, 14.0 + gain / 1000.0  # evening scale reading, kg


xtr, ytr = make_days(1024)
xva, yva = make_days(256)

model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
mx.eval(model.parameters())
opt = AdaDelta(learning_rate=1.0, rho=0.9)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


lg = nn.value_and_grad(model, loss_fn)
base_rmse = float(mx.sqrt(mx.mean((yva - ytr.mean()) ** 2))) * 1000
print(f"baseline (predict mean gain) val RMSE: {base_rmse:.1f} g/day")

t0 = time.time()
bs = 64
for epoch in range(1, 37):
    perm = mx.random.permutation(xtr.shape[0])
    tot = 0.0
    for i in range(0, xtr.shape[0], bs):
        idx = perm[i : i + bs]
        loss, grads = lg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    if epoch == 1:
        nz = sum(int(mx.any(g != 0).item()) for _, g in tree_flatten(grads))
        print(f"grad check: {nz}/{len(tree_flatten(grads))} tensors with non-zero grad")
    if epoch % 4 == 0 or epoch == 1:
        val = float(mx.sqrt(loss_fn(model, xva, yva))) * 1000
        us = [a.reshape(-1) for k, a in tree_flatten(opt.state) if k.endswith(".u")]
        step_rms = float(mx.sqrt(mx.mean(mx.concatenate(us))))
        print(
            f"ep {epoch:02d}  train_mse {tot / (xtr.shape[0] // bs):.4f}  "
            f"val_rmse {val:7.1f} g/day  rms_update {step_rms:.2e}"
        )
print(f"done in {time.time() - t0:.1f}s")
