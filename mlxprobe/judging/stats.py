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


def sen_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """The ~95% confidence interval of the Theil-Sen slope of `values` against their index
    (Sen 1968; Gilbert 1987, sec. 16.5): the pairwise slopes ranked, cut where Kendall's S's
    normal spread puts the bounds. On the same even subsample as `theil_sen`."""
    points = even_subsample(list(values), int(MAX_PAIRS ** 0.5))
    step = (len(values) - 1) / (len(points) - 1) if len(points) > 1 else 1.0
    slopes = sorted((b - a) / ((j - i) * step) for i, a in enumerate(points)
                    for j, b in enumerate(points[i + 1:], i + 1))
    if not slopes:
        return 0.0, 0.0
    n, pairs = len(points), len(slopes)
    spread = z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low = max(0, math.floor((pairs - spread) / 2))
    high = min(pairs - 1, math.ceil((pairs + spread) / 2))
    return slopes[low], slopes[high]


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


def last_share_start(points: Sequence[tuple[float, float]], share: float) -> float:
    """The x at which the last `share` of a series' x range (first to last point) begins."""
    return points[-1][0] - share * (points[-1][0] - points[0][0])


def moved_after(points: Sequence[tuple[float, float]], cut: float) -> float:
    """How far a series of (x, y) moved from x = `cut` on, as a share of its highest value
    there (0 when that is not positive)."""
    tail = [y for x, y in points if x >= cut]
    return round((max(tail) - min(tail)) / max(tail), 4) if tail and max(tail) > 0 else 0.0


def third_medians(values: Sequence[float]) -> tuple[float, float]:
    """The medians of the first and the last third of `values` (at least one value each)."""
    third = max(1, len(values) // 3)
    return statistics.median(values[:third]), statistics.median(values[-third:])
