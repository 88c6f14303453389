"""MLX040 (rules/slices.py) on small programs: a reduction with no axis written into a slice
that keeps the batch axis whole fires; a reduction over axes, a row slice, or a scalar
target stays silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import textwrap

import pytest

from mlxprobe.lint import lint_source

POOL = """
import mlx.core as mx

def pool(x, k):
    out = mx.zeros((x.shape[0], 4, 4, x.shape[-1]))
    for i in range(4):
        for j in range(4):
            window = x[:, i * k:(i + 1) * k, j * k:(j + 1) * k, :]
            {line}
    return out
"""


def fired(line: str) -> list[int]:
    code = textwrap.dedent(POOL.replace("{line}", line))
    return [f.line for f in lint_source(code, "case.py") if f.rule == "MLX040"]


@pytest.mark.parametrize("line", [
    "out[:, i, j, :] = mx.max(window)",
    "out[:, i, j] = window.mean()",
    "out[:, i, j, :] = mx.sum(x[:, i, j])",
])
def test_mlx040_whole_reduction_into_a_batch_slice(line: str) -> None:
    assert fired(line) == [9]


@pytest.mark.parametrize("line", [
    "out[:, i, j, :] = mx.max(window, axis=(1, 2))",
    "out[:, i, j, :] = window.max(axis=(1, 2))",
    "out[0, i, j, :] = mx.max(window)",
    "total = mx.max(window)",
    "out[:, i] = mx.max(window, (1, 2))",
])
def test_mlx040_reduction_over_axes_or_one_row_is_clean(line: str) -> None:
    assert fired(line) == []
