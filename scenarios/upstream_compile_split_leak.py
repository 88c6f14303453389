"""upstream-compile-split-leak: a fresh `mx.compile` closure per cycle whose body uses
`mx.split` must not keep the captured arrays alive.

Source: https://github.com/ml-explore/mlx/issues/3932 ("Memory leak when compiled function
contains multi-output op", reported on mlx 0.31.1, Metal). Symptom: a function closing over
weights evaluated outside it, compiled with a new `mx.compile(...)` each cycle and containing
`a, b = mx.split(x @ w, 2, axis=-1)`, raised `mx.get_active_memory()` by the size of the
captured weights every cycle, without bound; the same graph uncompiled, or compiled once and
reused, or with two slices instead of `mx.split`, stayed flat. Diagnosis (mlx PR #4183): the
outputs of a multi-output primitive hold each other through `siblings`, a reference cycle that
only `array::~array()` breaks, and only when it drops the last outside reference; when
`compile_dfs` replaced the traced tape the parents map still held copies, so the cycle was
never broken and everything it reached (the captured weights) stayed allocated. Fix: the
issue is still open and PR #4183 closed in the stored copy of the tracker; measured below,
the leak is gone from 0.32.3 on.

The guard trains a small network of the report's shape (8 blocks of `x @ w`, `mx.split`,
swapped halves concatenated; 8 x 256 x 256 float32 = 2 MiB of weights) with one uncompiled
SGD step per cycle, then evaluates it the way the report ran it: a new compiled closure over
the freshly updated (evaluated) weights, every cycle. 40 cycles; the old closure and weights
are dropped each time. If captured arrays are kept again, RSS climbs ~2 MiB a cycle: `leak`
(the verdict's rule: >= 16 MB and >= 10% growth after warm-up, sustained). MLX's active memory
is reported per step (`active_mb`) as evidence.

Measured here (CPU, 2 cores, 2026-11-22), 40 cycles, 2.3-9 s: mlx 0.32.4 and 0.32.3 flat
(RSS growth 0.0 MB after warm-up: pass); 0.30.0, 0.30.1, 0.31.1, 0.31.2 (the reported
release), 0.32.0, 0.32.1 and 0.32.2: RSS +2.0 MB a cycle, +62 to +65 MB over the 32 cycles
after warm-up (and active memory +2 MiB a cycle): `leak:rss`. 0.27.1, 0.28.0 and 0.29.3 are
flat: a regression in 0.30.0, the release whose compile copying also broke mlx#2864
(upstream-compile-random-state), consistent with the diagnosis above; fixed in 0.32.3 (the
fixing commit is not in the stored copy of the mlx repository, which ends after 0.32.1).
"""

from __future__ import annotations

import gc

import mlx.core as mx
import mlx.nn as nn
import numpy as np

SCENARIO = {
    "id": "upstream-compile-split-leak",
    "title": "mlx#3932: a new compiled closure per cycle with mx.split leaked its captures",
    "source": ["https://github.com/ml-explore/mlx/issues/3932"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    # measured: a regression in 0.30.0 (0.27.1, 0.28.0, 0.29.3 flat), leaking 2 MiB a cycle
    # through 0.32.2; 0.32.3 and 0.32.4 flat
    "expected_before_mlx": {"0.32.3": {"guard": "leak"}, "0.30.0": {"guard": "pass"}},
    "budget_s": 60,
}

BLOCKS, DIM, BATCH, CYCLES, LR = 8, 256, 8, 40, 0.5  # 40: the leak rule fits >= 30 steps


def make_forward(weights: list[mx.array]):  # noqa: ANN201 - a function of one array
    """The report's closure: captures `weights`, one multi-output op per block."""

    def forward(x: mx.array) -> mx.array:
        for w in weights:
            a, b = mx.split(x @ w, 2, axis=-1)
            x = mx.concatenate([b, a], axis=-1)
        return x

    return forward


def loss_fn(weights: list[mx.array], x: mx.array, y: mx.array) -> mx.array:
    return nn.losses.mse_loss(make_forward(weights)(x), y)


def active_mb() -> float:
    get = getattr(mx, "get_active_memory", None) or mx.metal.get_active_memory
    return get() / 2**20


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    rng = np.random.default_rng(0)
    x = mx.array(rng.standard_normal((BATCH, DIM)).astype(np.float32))
    teacher = [mx.array(np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32))
               for _ in range(BLOCKS)]
    y = make_forward(teacher)(x)
    eye = np.eye(DIM, dtype=np.float32)
    weights = [mx.array(eye + 0.01 * rng.standard_normal((DIM, DIM)).astype(np.float32))
               for _ in range(BLOCKS)]
    mx.eval(x, y, weights)
    grad_fn = mx.grad(loss_fn)
    probe.reset_clock()
    for _ in range(CYCLES):
        grads = grad_fn(weights, x, y)
        weights = [w - LR * g for w, g in zip(weights, grads)]
        mx.eval(weights)  # evaluated outside the compiled function, as in the report
        evaluate = mx.compile(make_forward(weights))  # a new closure every cycle
        loss = nn.losses.mse_loss(evaluate(x), y).item()
        del evaluate, grads
        gc.collect()
        probe.step(loss=loss, active_mb=round(active_mb(), 2))
