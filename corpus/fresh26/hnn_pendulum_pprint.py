"""Hamiltonian neural network for a frictionless pendulum.

The net outputs a scalar H(q, p); the predicted vector field is
(dq/dt, dp/dt) = (dH/dp, -dH/dq), obtained with mx.grad w.r.t. the inputs
inside the training loss (gradient-of-gradient for the weights).
H is only defined up to a constant, so the output layer has no bias.
Progress is reported as pprint'ed dicts; the field MSE is tiny by
construction (targets are O(1) but noise variance is 1e-4).
"""
import math
import pprint
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class HNN(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1, bias=False)

    def __call__(self, x):
        return self.out(mx.tanh(self.l2(mx.tanh(self.l1(x)))))[..., 0]


def true_field(x):
    q, p = x[:, 0], x[:, 1]
    return mx.stack([p, -mx.sin(q)], axis=1)


def true_energy(x):
    return 0.5 * x[..., 1] ** 2 + (1 - mx.cos(x[..., 0]))


def make_data(n):
    x = mx.concatenate([mx.random.uniform(-2.5, 2.5, (n, 1)), mx.random.uniform(-2.0, 2.0, (n, 1))], axis=1)
    return x, true_field(x) + 0.01 * mx.random.normal((n, 2))


def learned_field(model, x):
    dH = mx.grad(lambda z: mx.sum(model(z)))(x)
    return mx.stack([dH[:, 1], -dH[:, 0]], axis=1)


def rollout_drift(model, x0, dt=0.05, steps=400):
    """RK4 with the learned field; report max relative drift of the TRUE energy."""
    x = x0
    e0 = true_energy(x0)
    worst = mx.zeros_like(e0)
    for _ in range(steps):
        k1 = learned_field(model, x)
        k2 = learned_field(model, x + 0.5 * dt * k1)
        k3 = learned_field(model, x + 0.5 * dt * k2)
        k4 = learned_field(model, x + dt * k3)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        worst = mx.maximum(worst, mx.abs(true_energy(x) - e0) / e0)
    return mx.mean(worst).item()


def main():
    mx.random.seed(4)
    model = HNN()
    mx.eval(model.parameters())
    X, Y = make_data(2048)
    Xv, Yv = make_data(512)
    x0 = mx.array([[1.0, 0.0], [0.5, 1.0], [-2.0, 0.3], [0.0, 1.5]])
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 1200, 1e-4), weight_decay=1e-4)

    def loss_fn(m, xb, yb):
        return mx.mean((learned_field(m, xb) - yb) ** 2)

    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(1, 1201):
        idx = mx.random.randint(0, X.shape[0], (128,))
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it in (1, 50) or it % 200 == 0:
            report = {
                "iter": it,
                "field_mse": {"batch": float(f"{loss.item():.3e}"), "val": float(f"{loss_fn(model, Xv, Yv).item():.3e}")},
                "energy_drift_rk4_T20": f"{100 * rollout_drift(model, x0):.2f}%",
                "lr": float(f"{opt.learning_rate.item():.2e}"),
                "elapsed_s": round(time.time() - t0, 1),
            }
            pprint.pprint(report, width=100, sort_dicts=False)


if __name__ == "__main__":
    main()
