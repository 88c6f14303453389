# Trying the ADOPT optimizer (Taniguchi et al. 2024) in MLX on a small
# regression MLP: predict a house's heating load from 6 building features.
import math
import time
from typing import Callable, List, Union

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Optimizer


class ADOPT(Optimizer):
    """ADOPT optimizer, algorithm 2 of the paper."""

    def __init__(
        self,
        learning_rate: Union[float, Callable[[mx.array], mx.array]] = 1e-3,
        betas: List[float] = [0.9, 0.9999],
        eps: float = 1e-6,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps

    def init_single(self, parameter: mx.array, state: dict):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.ones_like(parameter)
        state["t"] = 1

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict):
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        eps = self.eps
        m = state["m"]
        v = state["v"]
        t = state["t"]
        if t == 1:
            m = gradient / mx.maximum(mx.sqrt(v), eps)
        else:
            m = b1 * m + (1 - b1) * (gradient / mx.maximum(mx.sqrt(v), eps))
        v = b2 * v + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v
        state["t"] += 1
        return parameter - lr * m


mx.random.seed(11)
N_TRAIN, N_VAL = 768, 256
feats = mx.random.uniform(-1.0, 1.0, (N_TRAIN + N_VAL, 6))
w_true = mx.array([2.0, -1.5, 0.7, 0.0, 1.2, -0.4])
load = feats @ w_true + 0.8 * mx.sin(3.0 * feats[:, 0]) * feats[:, 4] + 0.05 * mx.random.normal((N_TRAIN + N_VAL,))
load = load[:, None]
xtr, ytr = feats[:N_TRAIN], load[:N_TRAIN]
xva, yva = feats[N_TRAIN:], load[N_TRAIN:]


class HeatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = HeatNet()
mx.eval(model.parameters())
opt = ADOPT(learning_rate=3e-3, betas=[0.9, 0.99])


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_and_grad = nn.value_and_grad(model, mse)
BATCH = 64
t0 = time.time()
step = 0
for epoch in range(1, 41):
    perm = mx.random.permutation(N_TRAIN)
    running = 0.0
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i:i + BATCH]
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        step += 1
    val = mse(model, xva, yva).item()
    rmse = math.sqrt(val) if val == val and val < 1e300 else float("nan")
    print(f"ep {epoch:02d} step {step:4d} train_mse {running / (N_TRAIN // BATCH):.5g} val_rmse {rmse:.5g}")
print(f"finished in {time.time() - t0:.1f}s, final val_rmse {rmse:.5g}")
