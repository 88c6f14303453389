"""upstream-compile-state-tracer: compiling a step that writes its tracers into captured state
must fail with a Python error, never a segfault.

Source: https://github.com/ml-explore/mlx/issues/946 ("Segfault in compile with state", filed
by awni, mlx 0.9, April 2024). Symptom: a training step compiled with
`partial(mx.compile, inputs=state, outputs=state)` whose differentiated function assigns its
own (traced) parameters into the captured `state` list (`state[0] = w; state[1] = b` inside
`train_step`, called through `mx.value_and_grad`) killed the process with SIGSEGV on the first
call ("it should probably not" was the whole report). Diagnosis (not spelled out in the
stored issue; our reading, the same class as mlx#1399): the arrays written into the captured
state are the gradient transformation's tracers, not arrays the compiled graph knows, and
compile followed them into a graph they do not belong to. Fix: the issue is closed; the error
raised today, "ValueError: [compile] Attempting to compile a function with uncaptured inputs
is not allowed.", came with mlx#1401 "throw for certain cases of non captured inputs in
compile" (0.17.3).

The guard runs the report's step on a tiny linear model (10 x 16 weights, as in the report)
and expects an exception: raised, it is recorded and the check passes; a signal kills the
child: `crash:SIGSEGV`. Should a release accept the step instead, the check compares its
loss with NumPy's (a wrong value: `wrong_result`). Then it trains the same model the correct
way (parameters passed as inputs, the optimizer's state captured) and checks the loss fell.

Measured here (CPU, 2 cores, 2026-11-22): every release tried (0.27.1, 0.28.0, 0.29.3, 0.30.0,
0.30.1, 0.31.1, 0.31.2, 0.32.0, 0.32.1, 0.32.2, 0.32.3 and 0.32.4) raises the ValueError above
on the report's step, and the correct loop's loss falls 15.1 -> 8.3 (pass). The bug predates
every release that installs here (0.27+): this guard was never seen failing.
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SCENARIO = {
    "id": "upstream-compile-state-tracer",
    "title": "mlx#946: compile with state written back from inside a grad segfaulted",
    "source": ["https://github.com/ml-explore/mlx/issues/946"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    "budget_s": 60,
}

OUT, IN, STEPS, LR = 10, 16, 40, 0.05


def report_step(x: mx.array) -> tuple[str, float | None]:
    """The report's code; ("raised: <type>: <message>", None) or ("returned", loss)."""
    w = mx.ones((OUT, IN))
    b = mx.zeros((OUT,))
    params = [w, b]
    state = [w, b]

    def train_step(params: list[mx.array], x: mx.array) -> mx.array:
        w, b = params
        state[0] = w  # the tracers of value_and_grad written into captured state
        state[1] = b
        return (x @ w.T + b).sum()

    @partial(mx.compile, inputs=state, outputs=state)
    def step(inp: mx.array) -> mx.array:
        loss, _ = mx.value_and_grad(train_step)(params, inp)
        return loss

    try:
        loss = step(x)
        mx.eval(loss)
    except Exception as exc:  # noqa: BLE001 - any Python error is the expected outcome
        return f"raised: {type(exc).__name__}: {str(exc)[:200]}", None
    return "returned", loss.item()


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    mx.random.seed(0)
    x = mx.random.normal(shape=(1, IN))
    mx.eval(x)
    outcome, loss = report_step(x)  # a segfault here ends the child: crash:SIGSEGV
    expected = float((np.array(x) @ np.ones((OUT, IN), np.float32).T).sum())
    probe.check("report's step raises a Python error (or returns the right loss)",
                outcome.startswith("raised") or (loss is not None and abs(loss - expected)
                                                 <= 1e-4 * max(1.0, abs(expected))),
                outcome=outcome, loss=loss, numpy_loss=expected)

    # the correct way: the model's parameters and the optimizer's state captured
    rng = np.random.default_rng(0)
    xs = mx.array(rng.standard_normal((256, IN)).astype(np.float32))
    ys = xs @ mx.array(rng.standard_normal((IN, OUT)).astype(np.float32))
    model = nn.Linear(IN, OUT)
    optimizer = optim.SGD(learning_rate=LR)
    state = [model.state, optimizer.state]

    def mse(model: nn.Linear, xb: mx.array, yb: mx.array) -> mx.array:
        return nn.losses.mse_loss(model(xb), yb)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb: mx.array, yb: mx.array) -> mx.array:
        loss, grads = nn.value_and_grad(model, mse)(model, xb, yb)
        optimizer.update(model, grads)
        return loss

    probe.reset_clock()
    for i in range(STEPS):
        rows = slice((i * 32) % 256, (i * 32) % 256 + 32)
        loss = step(xs[rows], ys[rows])
        mx.eval(state, loss)
        probe.step(loss=loss.item())
