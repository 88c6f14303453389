"""upstream-power-nan: the gradient of `x ** p` must be finite where the base is exactly 0.

Sources: https://github.com/ml-explore/mlx/issues/504 ("Odd MLX Adam Optimizer Behavior in
Simple Benchmark Example", Jan 2024): fitting a spline to a sine wave with Adam and
`loss = mx.mean((y_pred - y_true) ** 2)` "after a few epochs ... starts producing nan" (PyTorch
converged); `mx.max(...)` instead of the mean avoided the NaN. Diagnosis: the power VJP
computed d/dx x^y as `y * x^y / x`, which is 0 / 0 = NaN for a residual of exactly 0 (at
init the spline is 0 and sin(0) is exactly 0). Fix: mlx#505 "Power VJP fix for 0" (mlx 0.0.11).
https://github.com/ml-explore/mlx/issues/628 ("Unexpected result from mlx.core.vjp", mlx
0.1.0): the gradient of `(a - b) ** b` with respect to the exponent was NaN where the base is
0 (JAX: -123 for the report's cotangent 123): d/dy x^y = x^y log x is 0 * -inf there. awni:
"We could try and make it such that 0 log 0 = 0 ... We can fix this once #598 is fixed"; the
issue is closed (the fixing commit was not identified), and every release tried gives JAX's
-123.

The guard trains, in one loop with Adam, the two models the reports describe: the spline
(piecewise linear between 16 control points, all 0 at init) fitted to sin(x) on [0, 2 pi] with
the report's `mean(residual ** 2)`, the sample x = 0 included (a residual of exactly 0), and
a gamma curve `y = a * x ** p` with a learnable exponent fitted to intensities that include
x = 0 exactly (the base-0 exponent gradient of mlx#628). It reports the real gradient norm
and whether every parameter is finite each step: a NaN gradient makes the parameters and the
loss NaN: `diverged`. On a finite run it also checks the report's vjp (-123 and 123, JAX's
values) and that both fits converged (the check is skipped on a non-finite run, which is the
`diverged` rule's to judge, so the verdict names the NaN).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-22), 150 Adam steps (~1.8 s): all finite,
spline MSE 0.50 at init -> 2.2e-5, gamma fit a = 1.4999, p = 2.1997 (true 1.5, 2.2), the
report's vjp [[123, 123], [-123, -123]]. Passes on every release tried: 0.27.1, 0.28.0, 0.29.3,
0.30.0, 0.30.1, 0.31.1, 0.31.2, 0.32.0, 0.32.1, 0.32.2, 0.32.3 and 0.32.4. The bugs predate
every release that installs here (0.27+): this guard was never seen failing.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from ._loops import global_norm, params_finite

SCENARIO = {
    "id": "upstream-power-nan",
    "title": "mlx#504/#628: power VJPs gave NaN at a zero base (spline and exponent fits)",
    "source": ["https://github.com/ml-explore/mlx/issues/504",
               "https://github.com/ml-explore/mlx/issues/628"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    "budget_s": 60,
}

KNOTS, SAMPLES, STEPS, LR = 16, 200, 150, 0.05
GAMMA_A, GAMMA_P = 1.5, 2.2
MAX_SPLINE_MSE, MAX_PARAM_ERR = 0.02, 0.05


class Fits(nn.Module):
    """The report's spline (control points) and a gamma curve with a learnable exponent."""

    def __init__(self) -> None:
        super().__init__()
        self.control = mx.zeros((KNOTS,))
        self.a = mx.array(1.0)
        self.p = mx.array(1.0)

    def spline(self, x: mx.array) -> mx.array:
        pos = x / (2 * math.pi) * (KNOTS - 1)
        k = mx.clip(mx.floor(pos), 0, KNOTS - 2).astype(mx.int32)
        t = pos - k
        return (1 - t) * self.control[k] + t * self.control[k + 1]

    def gamma(self, x: mx.array) -> mx.array:
        return self.a * x ** self.p


def loss_fn(model: Fits, xs: mx.array, ys: mx.array, xg: mx.array, yg: mx.array) -> mx.array:
    spline_mse = mx.mean((model.spline(xs) - ys) ** 2)  # the report's loss (mlx#504)
    gamma_mse = mx.mean((model.gamma(xg) - yg) ** 2)  # x = 0 in xg: base 0 (mlx#628)
    return spline_mse + gamma_mse


def report_vjp() -> list[list[float]]:
    def func(inp1: mx.array, inp2: mx.array) -> mx.array:
        return (inp1 - inp2) ** inp2

    _, grads = mx.vjp(func, [mx.ones(2), mx.ones(2)], [mx.ones(2) * 123])
    return [g.tolist() for g in grads]


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    xs = mx.array(np.linspace(0.0, 2 * math.pi, SAMPLES, dtype=np.float32))  # xs[0] == 0
    ys = mx.sin(xs)
    xg = mx.array(np.linspace(0.0, 1.0, 50, dtype=np.float32))  # xg[0] == 0
    yg = GAMMA_A * xg ** GAMMA_P
    model = Fits()
    mx.eval(model.parameters(), ys, yg)
    optimizer = optim.Adam(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    probe.reset_clock()
    loss = math.nan
    for _ in range(STEPS):
        loss_arr, grads = loss_and_grad(model, xs, ys, xg, yg)
        norm = global_norm(grads).item()
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        loss = loss_arr.item()
        probe.step(loss=loss, grad_norm=norm, params_finite=params_finite(model))
    if not (math.isfinite(loss) and params_finite(model)):
        return  # a NaN: the diverged rule reports it with the step it appeared at
    vjp = report_vjp()
    probe.check("report's vjp is [123, -123] (JAX)", vjp == [[123.0, 123.0], [-123.0, -123.0]],
                vjp=vjp)
    spline_mse = mx.mean((model.spline(xs) - ys) ** 2).item()
    a, p = model.a.item(), model.p.item()
    probe.check("spline fitted the sine", spline_mse <= MAX_SPLINE_MSE, spline_mse=spline_mse,
                max_mse=MAX_SPLINE_MSE)
    probe.check("gamma exponent recovered",
                abs(a - GAMMA_A) <= MAX_PARAM_ERR and abs(p - GAMMA_P) <= MAX_PARAM_ERR,
                a=a, p=p, true_a=GAMMA_A, true_p=GAMMA_P, max_err=MAX_PARAM_ERR)
