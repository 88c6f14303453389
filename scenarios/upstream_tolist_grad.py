"""upstream-tolist-grad: reading a value (`.tolist()`, `.item()`, `mx.eval`) inside the
differentiated function must not cut the gradient.

Source: https://github.com/ml-explore/mlx/issues/610 ("Wrong grad obtained from mlx.core.vjp",
mlx 0.1.0; 0.0.11 was right). Symptom: `def func(arr): arr += mx.ones((3, 3, 3)); cond = arr
< 1; cond.tolist(); return arr ** 2` gave a vjp of all zeros instead of 12 (JAX: 12);
removing the `.tolist()` gave 12. Diagnosis: evaluating an array inside a traced function
detached the evaluated graph (after an eval an array drops its inputs), so the tape no longer
reached the function's input: the gradient through it was silently zero. Fix: mlx#612 "Fix
eval in trace bugs" (mlx 0.2.0): arrays evaluated while a transformation traces keep their
graph; its test also covers an `mx.eval(x)` in the function.

The guard trains a small classifier whose loss function does what training code really does
inside the loss: it reads the batch accuracy with `.item()` for logging (an eval of the
logits, which depend on the parameters) and counts the confident predictions with
`.tolist()`. The real gradient norm is reported each step as `grad_norm`: all exactly 0 if
the bug is back (`no_update`). It also replays the report's function and the fix's test
against NumPy references (12 and 8): a different value is `wrong_result`.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-22): the report's vjp 12.0 in every entry, the
fix test's 12.0 and 8.0 (NumPy: the same), 60 steps, loss 1.66 -> 0.14, accuracy 0.08 -> 0.95.
Passes on every release tried: 0.27.1, 0.28.0, 0.29.3, 0.30.0, 0.30.1, 0.31.1, 0.31.2, 0.32.0,
0.32.1, 0.32.2, 0.32.3 and 0.32.4. The bug predates every release that installs here (0.27+):
this guard was never seen failing.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from ._loops import global_norm

SCENARIO = {
    "id": "upstream-tolist-grad",
    "title": "mlx#610: a .tolist() inside the differentiated function zeroed the gradient",
    "source": ["https://github.com/ml-explore/mlx/issues/610"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    "budget_s": 60,
}

FEATURES, CLASSES, SAMPLES, BATCH, STEPS, LR = 32, 8, 512, 64, 60, 1e-2


def report_vjps() -> dict[str, float]:
    """The report's vjp (every entry) and the fix test's two vjps."""
    def func(arr: mx.array) -> mx.array:
        arr = arr + mx.ones((3, 3, 3))
        cond = arr < 1
        cond.tolist()  # the eval inside the trace
        return arr ** 2

    _, (g,) = mx.vjp(func, [mx.ones((3, 3))], [mx.ones((3, 3, 3))])
    y = mx.array([2.0, 2.0])

    def with_tolist(x: mx.array) -> mx.array:
        x = x + y
        (x < 1).tolist()
        return x ** 2

    def with_eval(x: mx.array) -> mx.array:
        x = x + mx.array([1.0, 1.0])
        mx.eval(x)
        return x ** 2

    cot = mx.array([1.0, 1.0])
    _, (g1,) = mx.vjp(with_tolist, [mx.array([1.0])], [cot])
    _, (g2,) = mx.vjp(with_eval, [mx.array([1.0])], [cot])
    return {"report_min": mx.min(g).item(), "report_max": mx.max(g).item(),
            "tolist": g1.item(), "eval": g2.item()}


def numpy_vjps() -> dict[str, float]:
    """The same vjps by hand: d/dx of sum(c * f(x)^2) = sum over broadcast copies of 2 f c."""
    report = (2 * (np.ones((3, 3)) + np.ones((3, 3, 3)))).sum(axis=0)  # 3 copies of 2 * 2
    tolist = (2 * (np.array([1.0]) + np.array([2.0, 2.0]))).sum()  # 2 copies of 2 * 3
    evaluated = (2 * (np.array([1.0]) + np.array([1.0, 1.0]))).sum()  # 2 copies of 2 * 2
    return {"report_min": float(report.min()), "report_max": float(report.max()),
            "tolist": float(tolist), "eval": float(evaluated)}


def loss_fn(model: nn.Module, x: mx.array, y: mx.array, log: dict) -> mx.array:
    logits = model(x)
    log["accuracy"] = mx.mean(logits.argmax(axis=1) == y).item()  # an eval inside the trace
    log["confident"] = sum(mx.max(mx.softmax(logits, axis=-1), axis=-1).tolist()) / len(y)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    got, want = report_vjps(), numpy_vjps()
    probe.check("vjps through an eval inside the function match NumPy",
                all(abs(got[k] - want[k]) < 1e-5 for k in want),
                hint="an eval inside a traced function cut the graph (mlx#610)",
                mlx=got, numpy=want)
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
    teacher = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    x, y = mx.array(xs), mx.array((xs @ teacher).argmax(axis=1).astype(np.int32))
    model = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES))
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=LR)
    log: dict = {}
    loss_and_grad = nn.value_and_grad(model, lambda m, xb, yb: loss_fn(m, xb, yb, log))
    probe.reset_clock()
    for _ in range(STEPS):
        rows = mx.array(rng.integers(0, SAMPLES, BATCH))
        loss, grads = loss_and_grad(model, x[rows], y[rows])
        norm = global_norm(grads).item()
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        probe.step(loss=loss.item(), grad_norm=norm, accuracy=log["accuracy"],
                   confident=round(log["confident"], 4))
