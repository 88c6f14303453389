"""Climbing-rope impact force regression.

Peak impact force (kN) on the top anchor when a climber falls, predicted from
fall factor, climber mass, rope diameter, rope age, a wet-rope flag and the
number of hard falls the rope has already held.  Data are simulated from a
made-up spring-damper law plus 0.25 kN of measurement noise.

The MLP uses a squareplus activation written as an mx.custom_function with a
hand-written vjp, the learning rate ramps up from 0 (linear warm-up, then
cosine decay), and the training loss is logged as a bias-corrected
exponential moving average.
"""
import logging
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(
    stream=sys.stdout,
    level=logging.INFO,
    format="%(levelname)-5s ropelab: %(message)s",
)
log = logging.getLogger("ropelab")

NOISE_KN = 0.25
SQP_B = 4.0


def simulate(n, rng):
    ff = rng.uniform(0.2, 1.8, n)            # fall factor
    mass = rng.uniform(50.0, 100.0, n)       # kg
    diam = rng.uniform(8.5, 11.0, n)         # mm
    age = rng.uniform(0.0, 8.0, n)           # years
    wet = (rng.uniform(size=n) < 0.25).astype(np.float64)
    falls = rng.poisson(3.0, n).astype(np.float64)
    stiff = (diam / 10.0) ** 2 * (1.0 + 0.05 * age) * (1.0 + 0.3 * wet) * (1.0 + 0.04 * falls)
    g = 9.81
    force = 0.001 * mass * g * (1.0 + np.sqrt(1.0 + 2.0 * ff * 18.0 * stiff / (mass * g / 1000.0 * 20.0)))
    force = force * 1.4 + 0.15 * np.tanh(falls - 4.0)
    y = force + rng.normal(0.0, NOISE_KN, n)
    x = np.stack([ff, mass, diam, age, wet, falls], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


@mx.custom_function
def squareplus(x):
    return 0.5 * (x + mx.sqrt(x * x + SQP_B))


@squareplus.vjp
def squareplus_vjp(primals, cotangent, output):
    x = primals  # a single input arrives as the array itself
    dydx = 0.5 * (1.0 + x * mx.rsqrt(x * x + SQP_B))
    return cotangent * dydx


class RopeNet(nn.Module):
    def __init__(self, d_in, width):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = squareplus(self.l1(x))
        h = squareplus(self.l2(h))
        return self.out(h).squeeze(-1)


def mse_fn(model, x, y):
    return mx.mean(mx.square(model(x) - y))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    x_tr, y_tr = simulate(12000, rng)
    x_va, y_va = simulate(2000, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
    x_tr = (x_tr - mu) / sd
    x_va = (x_va - mu) / sd
    Xtr, Ytr = mx.array(x_tr), mx.array((y_tr - y_mu) / y_sd)
    Xva, Yva = mx.array(x_va), mx.array(y_va)

    # sanity check of the custom vjp against finite differences
    probe = mx.array([-3.0, -0.5, 0.0, 0.7, 2.5])
    g_custom = mx.grad(lambda t: squareplus(t).sum())(probe)
    eps = 1e-3
    g_fd = (squareplus(probe + eps) - squareplus(probe - eps)) / (2 * eps)
    log.info("squareplus vjp max |custom - finite diff| = %.2e",
             mx.max(mx.abs(g_custom - g_fd)).item())

    model = RopeNet(6, 64)
    mx.eval(model.parameters())

    batch = 64
    epochs = 12
    steps_per_epoch = Xtr.shape[0] // batch
    total = epochs * steps_per_epoch
    warm = 300
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, mse_fn)

    def val_rmse_kn():
        pred = model(Xva) * y_sd + y_mu
        return math.sqrt(mx.mean(mx.square(pred - Yva)).item())

    base = math.sqrt(float(np.mean((y_va - y_mu) ** 2)))
    log.info("rows train=%d val=%d | predict-mean RMSE %.3f kN | noise floor %.3f kN",
             Xtr.shape[0], Xva.shape[0], base, NOISE_KN)
    log.info("untrained val RMSE %.3f kN", val_rmse_kn())

    ema, beta, step = 0.0, 0.98, 0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
            if step == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if mx.max(mx.abs(g)).item() == 0.0]
                log.info("first step: lr=%.1e, %d gradient leaves, zero-gradient leaves: %s",
                         opt.learning_rate.item(), len(leaves), zero)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            ema = beta * ema + (1.0 - beta) * loss.item()
        ema_hat = ema / (1.0 - beta ** step)
        log.info("epoch %2d/%d step %5d lr %.2e train_mse_ema(std units) %.4f val_rmse %.3f kN (%.1fs)",
                 epoch, epochs, step, opt.learning_rate.item(), ema_hat, val_rmse_kn(),
                 time.perf_counter() - t0)
    log.info("done: final val RMSE %.3f kN vs noise floor %.3f kN", val_rmse_kn(), NOISE_KN)


if __name__ == "__main__":
    main()
