# Monotone (isotonic) neural network: every weight is softplus(raw) > 0 and the
# activations are increasing (tanh), so the fitted dose-response curve can only go up.
# Progress is written as G-code, one "G1" move per report (X = step, Y = val mse).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class PosLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.raw_w = mx.random.normal((d_out, d_in)) * 0.5 - 1.0
        self.bias = mx.random.uniform(-1.0, 1.0, (d_out,))

    def __call__(self, x):
        return x @ nn.softplus(self.raw_w).T + self.bias


class MonotoneNet(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.l1 = PosLinear(1, width)
        self.l2 = PosLinear(width, width)
        self.out = PosLinear(width, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.out(h).squeeze(-1)


def truth(d):
    return 0.3 + 2.6 / (1.0 + np.exp(-2.2 * (d - 1.0)))


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    noise = 0.15
    d_tr = rng.uniform(-2, 4, 300).astype(np.float32)
    y_tr = (truth(d_tr) + rng.normal(0, noise, 300)).astype(np.float32)
    d_va = rng.uniform(-2, 4, 200).astype(np.float32)
    y_va = (truth(d_va) + rng.normal(0, noise, 200)).astype(np.float32)
    Xtr, Ytr = mx.array(d_tr[:, None] / 2.0), mx.array(y_tr)
    Xva, Yva = mx.array(d_va[:, None] / 2.0), mx.array(y_va)
    grid = mx.array(np.linspace(-3, 5, 400, dtype=np.float32)[:, None] / 2.0)

    model = MonotoneNet()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return mx.mean(mx.square(m(x) - y))

    vg = nn.value_and_grad(model, loss_fn)
    _, g0 = vg(model, Xtr, Ytr)
    leaves = ", ".join(f"{k}={mx.abs(v).max().item():.1e}" for k, v in tree_flatten(g0))
    print("%")
    print(f"; grad-check max|g| per leaf: {leaves}")
    print(f"; noise floor mse={noise**2:.4f}  predict-mean mse={float(np.var(y_va)):.4f}")
    print("G21 ; units: step / mse")
    print("G90 ; absolute")

    opt = optim.Adagrad(learning_rate=0.08)
    t0 = time.time()
    steps = 2400
    for step in range(1, steps + 1):
        loss, grads = vg(model, Xtr, Ytr)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step in (1, 10, 50) or step % 200 == 0:
            va = loss_fn(model, Xva, Yva).item()
            curve = model(grid)
            viol = (mx.diff(curve) < -1e-6).sum().item()
            lo, hi = curve[0].item(), curve[-1].item()
            print(f"G1 X{step} Y{va:.5f} F{opt.learning_rate.item():.2f} ; train={loss.item():.5f} "
                  f"down_steps={viol} range=[{lo:.2f},{hi:.2f}] (true [0.30,2.90]) t={time.time()-t0:.1f}s")
    print("M2 ; end of program")


if __name__ == "__main__":
    main()
