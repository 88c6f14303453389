"""Small robust statistics used by the verdict and by compare: medians, Theil-Sen slope.

Must not import: mlx, numpy (kept pure Python so the parent side stays light).
"""

from __future__ import annotations

import math
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


def mann_kendall(values: Sequence[float]) -> dict:
    """Mann-Kendall trend test: Kendall's S over all pairs, its normal z (continuity
    corrected, no tie correction: losses are floats) and the one-sided p of a *decrease*.
    At most ~200 points (evenly subsampled), so the cost does not grow with the run."""
    points = even_subsample(list(values), int(MAX_PAIRS ** 0.5))
    n = len(points)
    s = sum((b > a) - (b < a) for i, a in enumerate(points) for b in points[i + 1:])
    variance = n * (n - 1) * (2 * n + 5) / 18
    if variance == 0:
        return {"n": n, "s": s, "z": 0.0, "p_decrease": 1.0}
    z = (s - (s > 0) + (s < 0)) / variance ** 0.5
    return {"n": n, "s": s, "z": z, "p_decrease": statistics.NormalDist().cdf(z)}


def finite_head(values: list[float]) -> list[float]:
    """The values before the first non-finite one (all of them when none is)."""
    for i, value in enumerate(values):
        if not math.isfinite(value):
            return values[:i]
    return values
