"""Identify a 2nd-order IIR (biquad) filter from white-noise input/output records.

Poles are parameterised as r*exp(+-i*theta) with r = sigmoid(raw_r) (always stable);
the difference equation is unrolled in Python over the record length.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_REC, T = 32, 96
TRUE_B = np.array([0.20, -0.10, 0.30])
TRUE_R, TRUE_THETA = 0.85, 0.9


def biquad_np(b, a1, a2, x):
    y = np.zeros_like(x)
    for t in range(x.shape[1]):
        acc = b[0] * x[:, t]
        if t >= 1:
            acc += b[1] * x[:, t - 1] - a1 * y[:, t - 1]
        if t >= 2:
            acc += b[2] * x[:, t - 2] - a2 * y[:, t - 2]
        y[:, t] = acc
    return y


class Biquad(nn.Module):
    def __init__(self):
        super().__init__()
        self.b = mx.array([0.5, 0.0, 0.0])
        self.raw_r = mx.array(0.0)      # r = 0.5 at start
        self.theta = mx.array(0.3)

    def __call__(self, x):
        r = mx.sigmoid(self.raw_r)
        a1 = -2.0 * r * mx.cos(self.theta)
        a2 = r * r
        b0, b1, b2 = self.b[0], self.b[1], self.b[2]
        zero = mx.zeros((x.shape[0],))
        x1 = x2 = y1 = y2 = zero
        out = []
        for t in range(x.shape[1]):
            xt = x[:, t]
            yt = b0 * xt + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out.append(yt)
            x2, x1 = x1, xt
            y2, y1 = y1, yt
        return mx.stack(out, axis=1)


def main():
    rng = np.random.default_rng(3)
    a1_true = -2 * TRUE_R * math.cos(TRUE_THETA)
    a2_true = TRUE_R ** 2
    x_np = rng.standard_normal((N_REC, T)).astype(np.float32)
    y_np = biquad_np(TRUE_B, a1_true, a2_true, x_np)
    y_np = (y_np + 0.01 * rng.standard_normal(y_np.shape)).astype(np.float32)
    x, y = mx.array(x_np), mx.array(y_np)
    y_power = float(np.mean(y_np ** 2))

    model = Biquad()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)

    def loss_fn(m):
        return mx.mean((m(x) - y) ** 2)

    step_fn = nn.value_and_grad(model, loss_fn)

    _, g0 = step_fn(model)
    zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(f"# leaves={len(tree_flatten(g0))} zero-grad leaves at step 0: {zero_leaves or 'none'}")

    for it in range(1, 601):
        loss, grads = step_fn(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 50 == 0 or it == 1:
            nmse_db = 10 * math.log10(loss.item() / y_power)
            r = mx.sigmoid(model.raw_r).item()
            b_str = ", ".join(f"{v:+.3f}" for v in model.b.tolist())
            print(f"[{it:4d}] nmse={nmse_db:+7.2f} dB  r={r:.4f}  theta={model.theta.item():.4f}  b=[{b_str}]")
    print(f"target: r={TRUE_R} theta={TRUE_THETA} b={TRUE_B.tolist()}  noise floor ~ {10*math.log10(1e-4/y_power):+.2f} dB")


if __name__ == "__main__":
    main()
