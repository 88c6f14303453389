"""Hot-air balloon climb-rate regressor.

Predicts the climb (m over the next 30 s) from burner seconds, envelope temperature,
ambient temperature, payload and wind shear. Two-stage curriculum: calm mornings first,
then gusty afternoon flights (noisier + shear term), each stage with its own warmup
from lr = 0 and its own step counter.
"""
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s balloon | %(message)s")
log = logging.getLogger("balloon")

rng = np.random.default_rng(11)


def flights(n, gusty):
    burner = rng.uniform(0, 12, n)            # s of burner in the window
    env_t = rng.uniform(80, 120, n)           # envelope deg C
    amb_t = rng.uniform(-5, 30, n)            # ambient deg C
    payload = rng.uniform(250, 600, n)        # kg
    shear = rng.uniform(0, 8, n) if gusty else np.zeros(n)  # m/s
    lift = (env_t - amb_t) / 40.0
    climb = 9.0 * lift - payload / 120.0 + 1.4 * burner - 0.04 * burner ** 2
    climb = climb - 0.35 * shear * np.sin(burner / 3.0) - 0.1 * shear ** 1.5
    noise = 1.6 if gusty else 0.5
    climb = climb + noise * rng.standard_normal(n)
    X = np.stack([burner / 12, (env_t - 100) / 12, (amb_t - 12) / 10, (payload - 425) / 100, shear / 8], 1)
    return mx.array(X.astype(np.float32)), mx.array(climb.astype(np.float32))


class ClimbNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


model = ClimbNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
loss_and_grad = nn.value_and_grad(model, mse)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


# sanity: every weight gets a gradient
xg, yg = flights(64, True)
_, g0 = loss_and_grad(model, xg, yg)
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
log.info("grad audit: %d tensors, %d with all-zero grad", len(tree_flatten(g0)), len(zero))

stages = [("calm-morning", False, 700, 4e-3), ("gusty-afternoon", True, 900, 2e-3)]
BATCH = 128
for name, gusty, steps, peak in stages:
    xtr, ytr = flights(5000, gusty)
    xva, yva = flights(1000, gusty)
    base = float(mx.sqrt(mx.mean((yva - ytr.mean()) ** 2)))
    warm = 100
    log.info("stage %s: %d steps, lr 0 -> %.0e over %d steps, val baseline rmse %.2f m", name, steps, peak, warm, base)
    for it in range(steps):
        opt.learning_rate = peak * min(1.0, it / warm)
        idx = mx.array(rng.integers(0, xtr.shape[0], BATCH))
        loss = step(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if it % 100 == 0 or it == steps - 1:
            vr = float(mx.sqrt(mse(model, xva, yva)))
            log.info("%s step %4d lr %.2e  train_mse %7.3f m^2  val_rmse %6.3f m  (baseline %.3f m, %.1f%% of baseline)",
                     name, it, opt.learning_rate.item(), loss.item(), vr, base, 100 * vr / base)

xa, ya = flights(2000, True)
log.info("final gusty holdout rmse %.3f m", float(mx.sqrt(mse(model, xa, ya))))
