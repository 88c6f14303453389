"""Quantization-aware training of a small regressor: 4-bit fake-quantized weights."""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BITS = 4


class QATLinear(nn.Linear):
    """nn.Linear whose weight is fake-quantized (symmetric, per-output-row) in the forward."""

    def fake_quant(self, w):
        qmax = 2 ** (BITS - 1) - 1
        scale = mx.stop_gradient(mx.abs(w).max(axis=1, keepdims=True) / qmax)
        wq = mx.clip(mx.round(w / scale), -qmax, qmax) * scale
        return w + mx.stop_gradient(wq - w)  # straight-through estimator

    def __call__(self, x):
        wq = self.fake_quant(self.weight)
        return x @ wq.T + self.bias


class Regressor(nn.Module):
    def __init__(self, d_in=16, hidden=64):
        super().__init__()
        self.l1 = QATLinear(d_in, hidden)
        self.l2 = QATLinear(hidden, 1)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


def main():
    mx.random.seed(5)
    X = mx.random.normal((256, 16))
    y = mx.sin(X[:, :4].sum(axis=1, keepdims=True)) + 0.5 * X[:, 4:5]

    net = Regressor()
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    mse = lambda m, a, b: nn.losses.mse_loss(m(a), b)
    grad_fn = nn.value_and_grad(net, mse)
    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(a, b):
        loss, g = grad_fn(net, a, b)
        opt.update(net, g)
        return loss

    w_start = mx.array(net.l1.weight)
    t0 = time.time()
    for step in range(400):
        loss = train_step(X, y)
        mx.eval(state)
        if step % 100 == 0 or step == 399:
            print(f"step {step:3d}  mse {loss.item():.4f}")
    dw = mx.abs(net.l1.weight - w_start).max().item()
    print(f"max |dW l1| = {dw:.4g}   ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
