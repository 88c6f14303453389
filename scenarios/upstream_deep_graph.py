"""upstream-deep-graph: long loops inside a differentiated loss and graphs deeper than 100k
operations must run, with the right gradient and time linear in the loop length.

Sources: https://github.com/ml-explore/mlx/issues/451 ("value_and_grad is really slow", open
in the stored copy of the tracker): a physics-informed fit whose loss runs an explicit
finite-difference heat solver for `max_steps` iterations inside `mx.value_and_grad`; 5000
iterations worked, more "stopped working", and evaluating inside the loop did not help.
https://github.com/ml-explore/mlx/issues/810 ("Graph depth exceeded error on default run of
LoRa tune", March 2024): after mlx#797 capped graph depth at 100k (graphs had been overflowing
the stack at ~105k), `mlx_lm.lora` died at iteration 880 with "RuntimeError: [eval] Graph
depth exceeded maximum allowed limit. Try evaluating the graph more frequently."
Diagnosis and fix: the recursive graph traversals were the limit; mlx#813 "Remove depth
traversal" made eval iterative and dropped the cap (mlx 0.7), mlx#1764 stopped the VJP from
recursing through inputs that need no gradient.

The guard fits the boundary temperatures of a 4 x 4 plate (4 parameters) to a target field by
gradient descent, the loss running 6000 explicit Euler steps of the heat equation inside
`mx.value_and_grad` (more than the 5000 that worked in mlx#451), 3 steps. It checks the first
gradient against central finite differences of the same solver in float64 NumPy, that the
loss fell, and that differentiating 4x the loop length costs at most 10x the time (thread CPU
time, medians of 3; linear is 4, quadratic 16: a ratio, never an absolute time). Then it runs
the solver lazily for 51,000 steps (a graph 102,000 operations deep, over mlx#797's 100k cap)
and evaluates it once, checking the value against NumPy. A depth cap back is `crash`
(RuntimeError), a wrong gradient or value or quadratic growth `wrong_result`, a crawl `hang`.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-22): gradient within 1.8e-7 of the finite
differences, loss 0.214 -> 0.0065 in 3 steps, time ratio 2.6-5.1 (median 0.22 s for 6000 steps),
the 102,000-deep graph within 7e-8 of NumPy; 3.5-5.5 s. Passes on every release tried (0.27.1,
0.28.0, 0.29.3, 0.30.0, 0.30.1, 0.31.1, 0.31.2, 0.32.0, 0.32.1, 0.32.2, 0.32.3 and 0.32.4;
ratios 3.1-6.9). Found while measuring, not guarded (it fails on 0.32.4): the gradient of a
plain 120,000-operation chain (`x = x * 0.99999 + 0.00001`, 60,000 times, `mx.grad`) dies of
SIGSEGV on 0.32.4 and 0.27.1 (70,000 operations work; the cause was not investigated), so
the 102k-deep part is evaluated, not differentiated. The bugs themselves predate every release
that installs here (0.27+): this guard was never seen failing.
"""

from __future__ import annotations

import statistics
import time

import mlx.core as mx
import numpy as np

SCENARIO = {
    "id": "upstream-deep-graph",
    "title": "mlx#451/#810: long loops in a differentiated loss; graphs over 100k deep",
    "source": ["https://github.com/ml-explore/mlx/issues/451",
               "https://github.com/ml-explore/mlx/issues/810"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    "budget_s": 120,
}

SIDE, K = 4, 0.2  # 4 x 4 interior points; explicit Euler is stable for K <= 0.25
INNER, FIT_STEPS, LR = 6000, 3, 2.0
MIN_DROP = 0.8
DEEP = 51_000  # solver steps of 2 operations: 102,000 deep
MAX_RATIO, RTOL = 10.0, 1e-2
TRUE_THETA = np.array([1.0, 0.0, 0.5, 0.2])  # top, bottom, left, right temperatures


def plate() -> tuple[np.ndarray, np.ndarray]:
    """(M, B): one Euler step is T <- M @ T + B @ theta, Dirichlet boundaries theta."""
    n = SIDE * SIDE
    lap = np.zeros((n, n))
    bnd = np.zeros((n, 4))
    for i in range(SIDE):
        for j in range(SIDE):
            p = i * SIDE + j
            lap[p, p] = -4.0
            for di, dj, side in ((-1, 0, 0), (1, 0, 1), (0, -1, 2), (0, 1, 3)):
                a, b = i + di, j + dj
                if 0 <= a < SIDE and 0 <= b < SIDE:
                    lap[p, a * SIDE + b] = 1.0
                else:
                    bnd[p, side] += 1.0
    return np.eye(n) + K * lap, K * bnd


def solve_np(m: np.ndarray, b: np.ndarray, theta: np.ndarray, steps: int) -> np.ndarray:
    t = np.zeros(m.shape[0])
    source = b @ theta
    for _ in range(steps):
        t = m @ t + source
    return t


def solve(m: mx.array, b: mx.array, theta: mx.array, steps: int) -> mx.array:
    t = mx.zeros((m.shape[0],))
    source = b @ theta
    for _ in range(steps):
        t = m @ t + source  # two operations per step, nothing evaluated inside
    return t


def grad_cpu_s(fun, *args) -> float:  # noqa: ANN001 - a value_and_grad function
    start = time.thread_time()
    mx.eval(fun(*args))
    return time.thread_time() - start


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    m_np, b_np = plate()
    m, b = mx.array(m_np.astype(np.float32)), mx.array(b_np.astype(np.float32))
    target_np = solve_np(m_np, b_np, TRUE_THETA, INNER)
    target = mx.array(target_np.astype(np.float32))

    def loss(theta: mx.array, steps: int = INNER) -> mx.array:
        return mx.mean(mx.square(solve(m, b, theta, steps) - target))

    loss_and_grad = mx.value_and_grad(loss)
    theta = mx.zeros((4,))
    losses, long_s = [], []
    probe.reset_clock()
    for i in range(FIT_STEPS):
        start = time.thread_time()
        value, grad = loss_and_grad(theta)
        mx.eval(value, grad)
        long_s.append(time.thread_time() - start)
        if i == 0:
            eps = 1e-4
            fd = np.array([
                (np.mean((solve_np(m_np, b_np, e, INNER) - target_np) ** 2)
                 - np.mean((solve_np(m_np, b_np, -e, INNER) - target_np) ** 2)) / (2 * eps)
                for e in np.eye(4) * eps])
            got = np.array(grad, np.float64)
            err = float(np.abs(got - fd).max() / np.abs(fd).max())
            probe.check(f"gradient through {INNER} solver steps matches finite differences",
                        err <= RTOL, max_rel_err=err, rtol=RTOL, grad=got.tolist(),
                        finite_diff=fd.tolist())
        theta = theta - LR * grad
        losses.append(value.item())
        probe.step(loss=losses[-1], grad_norm=mx.sqrt(mx.sum(grad * grad)).item())
    final = loss(theta).item()
    probe.check("the fit's loss fell", (losses[0] - final) / losses[0] >= MIN_DROP,
                loss_first=losses[0], loss_after=final, min_drop=MIN_DROP)

    short = mx.value_and_grad(lambda th: loss(th, INNER // 4))
    short_s = [grad_cpu_s(short, theta) for _ in range(3)]
    t_short, t_long = statistics.median(short_s), statistics.median(long_s)
    ratio = t_long / t_short
    probe.step(grad_ms_short=t_short * 1000, grad_ms_long=t_long * 1000)
    probe.check("4x the loop length costs at most 10x the gradient time", ratio <= MAX_RATIO,
                ratio=round(ratio, 2), short_steps=INNER // 4, long_steps=INNER,
                short_ms=round(t_short * 1000, 1), long_ms=round(t_long * 1000, 1))

    start = time.perf_counter()
    deep = solve(m, b, mx.array(TRUE_THETA.astype(np.float32)), DEEP)
    mx.eval(deep)  # one eval of a graph 2 * DEEP operations deep (mlx#810's cap was 100k)
    probe.step(deep_eval_s=time.perf_counter() - start)
    want = solve_np(m_np, b_np, TRUE_THETA, 200)  # converged long before
    probe.check(f"a {2 * DEEP}-deep lazy graph evaluates to the NumPy value",
                bool(np.allclose(np.array(deep), want, atol=1e-4)), depth=2 * DEEP,
                max_abs_err=float(np.abs(np.array(deep) - want).max()))
