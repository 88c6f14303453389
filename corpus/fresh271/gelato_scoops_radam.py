"""Gelato kiosk: daily scoop counts from weather and calendar, Poisson regression.

A small MLP predicts the log of the expected number of scoops sold per day.
The optimizer is a rectified Adam written as an mlx.optimizers.Optimizer
subclass; the learning rate warms up linearly from 0 and then follows a cosine.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class RectifiedAdam(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.rho_inf = 2.0 / (1.0 - betas[1]) - 1.0

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        lr = self.learning_rate.astype(gradient.dtype)
        t = self.step.astype(mx.float32)
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v
        b1t = mx.power(b1, t)
        b2t = mx.power(b2, t)
        m_hat = m / (1 - b1t)
        rho_t = self.rho_inf - 2.0 * t * b2t / (1 - b2t)
        num = mx.maximum((rho_t - 4.0) * (rho_t - 2.0) * self.rho_inf, 0.0)
        den = (self.rho_inf - 4.0) * (self.rho_inf - 2.0) * mx.maximum(rho_t, 1e-6)
        rect = mx.sqrt(num / den)
        v_hat = mx.sqrt(v / (1 - b2t))
        adaptive = rect * m_hat / (v_hat + self.eps)
        step_dir = mx.where(rho_t > 5.0, adaptive, m_hat)
        if self.weight_decay > 0:
            parameter = parameter * (1 - lr * self.weight_decay)
        return parameter - lr * step_dir


def make_days(n, rng):
    temp = rng.normal(22, 7, n)
    dow = rng.integers(0, 7, n)
    rain = rng.exponential(2.0, n) * (rng.random(n) < 0.35)
    holiday = (rng.random(n) < 0.15).astype(np.float64)
    promo = (rng.random(n) < 0.2).astype(np.float64)
    weekend = (dow >= 5).astype(np.float64)
    log_rate = (
        3.6
        + 0.055 * (temp - 22)
        - 0.0012 * (temp - 22) ** 2
        + 0.35 * weekend
        - 0.09 * rain
        + 0.25 * holiday
        + 0.3 * promo
        + 0.15 * weekend * promo
    )
    y = rng.poisson(np.exp(log_rate))
    x = np.stack(
        [
            (temp - 22) / 7,
            np.sin(2 * np.pi * dow / 7),
            np.cos(2 * np.pi * dow / 7),
            rain / 2,
            holiday,
            promo,
        ],
        axis=1,
    )
    return x.astype(np.float32), y.astype(np.float32), np.exp(log_rate).astype(np.float32)


class ScoopNet(nn.Module):
    def __init__(self, d_in, width=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def poisson_nll(log_mu, y):
    # constant log(y!) term left out, so values are negative for large counts
    return mx.mean(mx.exp(log_mu) - y * log_mu)


def deviance(mu, y):
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    term = np.where(y > 0, y * np.log(np.maximum(y, 1e-12) / mu), 0.0)
    return float(2 * np.mean(term - (y - mu)))


def main():
    rng = np.random.default_rng(4)
    mx.random.seed(4)
    x_tr, y_tr, _ = make_days(6000, rng)
    x_va, y_va, mu_va_true = make_days(1500, rng)
    X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
    X_va, Y_va = mx.array(x_va), mx.array(y_va)

    base_mu = np.full_like(y_va, y_tr.mean())
    print("[data]")
    print(f"train_days = {len(y_tr)}")
    print(f"valid_days = {len(y_va)}")
    print(f"mean_scoops = {y_tr.mean():.1f}")
    print(f"baseline_deviance = {deviance(base_mu, y_va):.3f}  # constant rate")
    print(f"oracle_deviance = {deviance(mu_va_true, y_va):.3f}  # true rate, noise floor")
    print()

    model = ScoopNet(x_tr.shape[1])
    mx.eval(model.parameters())

    warm, total = 150, 2400
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-5)],
        [warm],
    )
    opt = RectifiedAdam(learning_rate=schedule, weight_decay=1e-4)

    def loss_fn(m, xb, yb):
        return poisson_nll(m(xb), yb)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def valid_report():
        log_mu = model(X_va)
        nll = poisson_nll(log_mu, Y_va).item()
        mu = np.array(mx.exp(log_mu))
        dev = deviance(mu, y_va)
        return nll, dev

    nll0, dev0 = valid_report()
    print("[untrained]")
    print(f"valid_nll = {nll0:.3f}")
    print(f"valid_deviance = {dev0:.3f}")
    print()

    before = [np.array(p) for _, p in nn.utils.tree_flatten(model.trainable_parameters())]
    batch = 64
    n = len(y_tr)
    perm = rng.permutation(n)
    cursor = 0
    t0 = time.perf_counter()
    window = []
    for step in range(total):
        if cursor + batch > n:
            perm = rng.permutation(n)
            cursor = 0
        idx = mx.array(perm[cursor : cursor + batch])
        cursor += batch
        lr_used = schedule(mx.array(step)).item()
        loss, grads = loss_and_grad(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 0:
            after = [np.array(p) for _, p in nn.utils.tree_flatten(model.trainable_parameters())]
            moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
            n_grad = len(nn.utils.tree_flatten(grads))
            print("[first_step]")
            print(f"lr_used = {lr_used:.1e}")
            print(f"grad_arrays = {n_grad}")
            print(f"max_param_change = {moved:.1e}  # zero because lr starts at 0")
            print()
        if (step + 1) in (25, 75, 150) or (step + 1) % 300 == 0:
            nll, dev = valid_report()
            print("[[report]]")
            print(f"step = {step + 1}")
            print(f"lr = {lr_used:.2e}")
            print(f"train_nll = {np.mean(window):.3f}")
            print(f"valid_nll = {nll:.3f}")
            print(f"valid_deviance = {dev:.3f}")
            print(f"deviance_vs_baseline = {dev / deviance(base_mu, y_va):.3f}")
            print()
            window = []

    nll, dev = valid_report()
    mu = np.array(mx.exp(model(X_va)))
    print("[done]")
    print(f"steps = {total}")
    print(f"seconds = {time.perf_counter() - t0:.1f}")
    print(f"valid_nll = {nll:.3f}")
    print(f"valid_deviance = {dev:.3f}")
    print(f"oracle_deviance = {deviance(mu_va_true, y_va):.3f}")
    print(f"mean_abs_rate_error = {np.mean(np.abs(mu - mu_va_true)):.2f}  # scoops per day")


if __name__ == "__main__":
    main()
