"""Response-surface fit with a hand-ported ADOPT optimizer (Taniguchi et al. 2024).

ADOPT is advertised to converge for any beta2, so we use beta2 = 0.99.
Logs one JSON object per epoch.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Optimizer


class ADOPT(Optimizer):
    """v_0 = g_0^2 ; m_t = b1 m + (1-b1) g_t / max(sqrt(v_{t-1}), eps) ;
    theta -= lr m_t ; v_t = b2 v_{t-1} + (1-b2) g_t^2"""

    def __init__(self, learning_rate, betas=(0.9, 0.9999), eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)
        state["c"] = 0

    def apply_single(self, gradient, parameter, state):
        state["c"] += 1
        if state["c"] == 1:
            state["v"] = mx.square(gradient)
            return parameter
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        m, v = state["m"], state["v"]
        m = b1 * m + (1 - b1) * gradient / mx.maximum(mx.sqrt(v), self.eps)
        parameter = parameter - lr * m
        v = b2 * v + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v
        return parameter


def make_data(n, key):
    kx, kn = mx.random.split(key)
    w = mx.random.normal((16, 1), key=mx.random.key(0))
    x = mx.random.normal((n, 16), key=kx)
    y = mx.sin(x @ w) + 0.1 * x[:, :1] + 0.02 * mx.random.normal((n, 1), key=kn)
    return x, y


def main():
    mx.random.seed(1)
    xtr, ytr = make_data(2048, mx.random.key(10))
    model = nn.Sequential(
        nn.Linear(16, 64), nn.ReLU(),
        nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, 1),
    )
    mx.eval(model.parameters())
    opt = ADOPT(learning_rate=1e-3, betas=(0.9, 0.99))

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    step = nn.value_and_grad(model, loss_fn)
    bs = 64
    t0 = time.time()
    for epoch in range(1, 81):
        perm = mx.random.permutation(xtr.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch % 5 == 0 or epoch == 1:
            mse = tot / nb
            print(json.dumps({"epoch": epoch, "train_mse": round(mse, 5),
                              "rmse": round(mse ** 0.5, 4), "t": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
