"""Tabular regression MLP trained with a hand-written ADOPT optimizer.

ADOPT (Taniguchi et al., NeurIPS 2024): v_0 = g_0^2, the first step only
initialises v, then m_t = b1*m + (1-b1) * g_t / max(sqrt(v_{t-1}), eps).
The output head is zero-initialised so the untrained net predicts 0.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class ADOPT(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.9999), eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["c"] = 0

    def apply_single(self, gradient, parameter, state):
        state["c"] += 1
        if state["c"] == 1:
            state["v"] = mx.square(gradient)
            return parameter
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        m, v = state["m"], state["v"]
        normed = gradient / mx.maximum(mx.sqrt(v), self.eps)
        if state["c"] == 2:
            m = normed
        else:
            m = b1 * m + (1 - b1) * normed
        parameter = parameter - lr * m
        state["v"] = b2 * v + (1 - b2) * mx.square(gradient)
        state["m"] = m
        return parameter


def make_model(d_in, width):
    head = nn.Linear(width, 1)
    head.weight = mx.zeros_like(head.weight)
    head.bias = mx.zeros_like(head.bias)
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(),
                         nn.Linear(width, width), nn.ReLU(), head)


def main():
    mx.random.seed(3)
    d_in, n = 16, 1024
    model = make_model(d_in, 64)
    X = mx.random.normal((n, d_in))
    Y = mx.sin(2 * X[:, :1]) + X[:, 1:2] * X[:, 2:3]
    Xv = mx.random.normal((256, d_in))
    Yv = mx.sin(2 * Xv[:, :1]) + Xv[:, 1:2] * Xv[:, 2:3]
    mx.eval(model.parameters(), X, Y, Xv, Yv)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    opt = ADOPT(learning_rate=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    print(f"{'step':>5} | {'batch mse':>12} | {'val mse':>12} | {'sec':>6}")
    print("-" * 45)
    t0 = time.time()
    for step in range(1, 601):
        idx = mx.random.randint(0, n, (64,))
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in (1, 2, 3, 5, 10, 20) or step % 50 == 0:
            val = loss_fn(model, Xv, Yv).item()
            print(f"{step:>5} | {loss.item():>12.5g} | {val:>12.5g} | {time.time() - t0:>6.2f}")
    print("done")


if __name__ == "__main__":
    main()
