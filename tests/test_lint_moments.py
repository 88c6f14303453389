"""MLX043 (rules/moments.py) on small programs: a variance computed as mean(x * x) - mean(x)
** 2 fires however the square and the mean are spelled; the two-pass form, mx.var and a
difference of unrelated moments stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
def standardize(x):
    mean = mx.mean(x, axis=0, keepdims=True)
    {line}
    return (x - mean) / mx.sqrt(var + 1e-5)
"""


@pytest.mark.parametrize("line", [
    "var = mx.mean(x * x, axis=0, keepdims=True) - mean * mean",
    "var = (x ** 2).mean(axis=0, keepdims=True) - mean ** 2",
    "var = mx.mean(mx.square(x), axis=0, keepdims=True) - mx.square(mean)",
    "sq = mx.mean(x * x, axis=0, keepdims=True)\n    var = sq - mean * mean",
    "var = mx.mean(x * x, axis=0) - mx.mean(x, axis=0) ** 2",
])
def test_mlx043_variance_by_moments(line: str) -> None:
    found = fired(CODE.replace("{line}", line), "MLX043")
    assert len(found) == 1


@pytest.mark.parametrize("line", [
    "var = mx.mean((x - mean) ** 2, axis=0, keepdims=True)",
    "var = mx.var(x, axis=0, keepdims=True)",
    "var = mx.mean(y * y, axis=0) - mean * mean",
    "var = mx.mean(x * x, axis=0) - mx.mean(x * x, axis=0)",
    "var = mx.mean(x, axis=0) - mean * mean",
])
def test_mlx043_two_pass_or_unrelated_moments_are_clean(line: str) -> None:
    assert fired(CODE.replace("{line}", line), "MLX043") == []
