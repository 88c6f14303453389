"""The Mann-Whitney U rank test, pure Python: is one sample stochastically greater than another?

Job: `compare` calls a timing regression only when the head's runs rank above the base's runs
(`greater_p(head, base) <= alpha`), so one noisy run cannot fail a build. Exact distribution
of U when there are no ties and the samples are small (counted by dynamic programming), else
the normal approximation with tie correction and continuity correction (as scipy's
`mannwhitneyu(..., method="asymptotic")` does).

Must not import: mlx, numpy, scipy (the parent side stays light).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

EXACT_MAX = 20  # exact distribution while both samples have at most this many values


def u_statistic(x: Sequence[float], y: Sequence[float]) -> float:
    """U of `x`: pairs (xi, yj) with xi > yj, ties counting one half."""
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)


def greater_p(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value for "x tends to be greater than y" (1.0 when a sample is empty)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    u = u_statistic(x, y)
    if _has_ties([*x, *y]) or max(n1, n2) > EXACT_MAX:
        return _normal_greater_p(u, x, y)
    return _exact_greater_p(round(u), n1, n2)


def smallest_p(n1: int, n2: int) -> float:
    """The smallest one-sided p any samples of these sizes can reach (no ties)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return 1.0 / math.comb(n1 + n2, n1)


def _has_ties(values: list[float]) -> bool:
    return len(set(values)) != len(values)


def _exact_greater_p(u: int, n1: int, n2: int) -> float:
    counts = _u_counts(n1, n2)
    return sum(counts[u:]) / math.comb(n1 + n2, n1)


@lru_cache(maxsize=256)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """counts[u] = number of rank arrangements giving U = u, for samples of n1 and n2."""
    # f(i, j)[u]: arrangements of i x-values and j y-values with U = u. The largest value is
    # either an x (it beats all j y-values: U grows by j) or a y (U unchanged).
    table: dict[tuple[int, int], list[int]] = {}
    for i in range(n1 + 1):
        for j in range(n2 + 1):
            if i == 0 or j == 0:
                table[i, j] = [1]
                continue
            with_x, with_y = table[i - 1, j], table[i, j - 1]
            row = [0] * (i * j + 1)
            for u, c in enumerate(with_x):
                row[u + j] += c
            for u, c in enumerate(with_y):
                row[u] += c
            table[i, j] = row
    return tuple(table[n1, n2])


def _normal_greater_p(u: float, x: Sequence[float], y: Sequence[float]) -> float:
    n1, n2 = len(x), len(y)
    n = n1 + n2
    ties = _tie_term([*x, *y])
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0  # every value equal: no evidence either way
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _tie_term(values: list[float]) -> float:
    """Sum over groups of tied values of t^3 - t."""
    groups: dict[float, int] = {}
    for v in values:
        groups[v] = groups.get(v, 0) + 1
    return float(sum(t ** 3 - t for t in groups.values()))
