"""Small robust statistics used by the verdict and by compare: medians, Theil-Sen slope.

Must not import: mlx, numpy (kept pure Python so the parent side stays light).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

MAX_PAIRS = 20_000  # Theil-Sen on at most ~200 points (subsampled evenly): O(n^2) stays cheap


def even_subsample(xs: Sequence, n: int) -> list:
    """At most `n` items of `xs`, evenly spaced, keeping the first and the last."""
    if len(xs) <= n:
        return list(xs)
    step = (len(xs) - 1) / (n - 1)
    return [xs[round(i * step)] for i in range(n)]


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Median of pairwise slopes: robust to a minority of outliers (GC, allocator jumps)."""
    points = even_subsample(list(zip(xs, ys)), int(MAX_PAIRS ** 0.5))
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points)
              for x2, y2 in points[i + 1:] if x2 != x1]
    return statistics.median(slopes) if slopes else 0.0


def window_median(values: Sequence[float], frac: float, minimum: int, tail: bool) -> float:
    """Median of the first (or last) `frac` of `values`, at least `minimum` of them."""
    n = max(minimum, int(len(values) * frac))
    part = values[-n:] if tail else values[:n]
    return statistics.median(part)
