"""Heteroscedastic regression with a hand-written Adan optimizer.

A small MLP predicts a mean and a log-variance for a noisy 1-D signal and is
trained with the Gaussian negative log-likelihood, so the reported loss goes
below zero once the predicted variance is small. The learning rate warms up
linearly from exactly 0 and then follows a cosine decay.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.optimizers import Optimizer

NOISE_STD = 0.05


class Adan(Optimizer):
    """Adaptive Nesterov momentum (Xie et al., 2022) with decoupled decay."""

    def __init__(self, learning_rate, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=0.0):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)
        state["n"] = mx.zeros_like(parameter)
        state["prev_grad"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2, b3 = self.betas
        t = self.step.astype(mx.float32)

        diff = mx.where(t > 1, gradient - state["prev_grad"], mx.zeros_like(gradient))
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * diff
        n = b3 * state["n"] + (1 - b3) * mx.square(gradient + b2 * diff)
        state["m"], state["v"], state["n"], state["prev_grad"] = m, v, n, gradient

        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        n_hat = n / (1 - b3 ** t)
        update = (m_hat + b2 * v_hat) / (mx.sqrt(n_hat) + self.eps)
        return (parameter - lr * update) / (1 + lr * self.weight_decay)


class MeanVarNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.mean = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h), self.logvar(h)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return mx.mean(0.5 * (logvar + mx.square(y - mu) / mx.exp(logvar) + math.log(2 * math.pi)))


def make_data(n, key):
    kx, kn = mx.random.split(key)
    x = mx.random.uniform(-3.0, 3.0, (n, 1), key=kx)
    y = mx.sin(1.5 * x) + 0.3 * x + NOISE_STD * mx.random.normal((n, 1), key=kn)
    return x, y


def main():
    mx.random.seed(11)
    x_tr, y_tr = make_data(4096, mx.random.key(1))
    x_va, y_va = make_data(1024, mx.random.key(2))

    total_steps, warmup, batch = 1200, 100, 128
    peak_lr = 3e-3
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warmup),
         optim.cosine_decay(peak_lr, total_steps - warmup, 1e-5)],
        [warmup],
    )

    model = MeanVarNet()
    mx.eval(model.parameters())
    opt = Adan(learning_rate=schedule, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, gaussian_nll)

    baseline_mse = mx.var(y_va).item()
    ideal_nll = 0.5 * math.log(2 * math.pi * NOISE_STD ** 2) + 0.5
    print(f"baseline (predict mean) val mse {baseline_mse:.4f} | noise floor mse {NOISE_STD**2:.4f} "
          f"| ideal nll {ideal_nll:.3f}")

    n = x_tr.shape[0]
    tic = time.perf_counter()
    for step in range(1, total_steps + 1):
        idx = mx.random.randint(0, n, (batch,))
        loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)

        if step in (1, 2, 3) or step % 100 == 0:
            mu, logvar = model(x_va)
            val_mse = mx.mean(mx.square(mu - y_va)).item()
            val_nll = gaussian_nll(model, x_va, y_va).item()
            pred_std = mx.exp(0.5 * logvar).mean().item()
            print(f"step {step:5d} lr {opt.learning_rate.item():.2e} train nll {loss.item():+.4f} "
                  f"val nll {val_nll:+.4f} val mse {val_mse:.5f} (baseline {baseline_mse:.4f}) "
                  f"pred std {pred_std:.4f}")
    print(f"done in {time.perf_counter() - tic:.1f}s")


if __name__ == "__main__":
    main()
