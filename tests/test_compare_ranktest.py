"""The pure-Python Mann-Whitney U test against published values, brute force and its own laws."""

from __future__ import annotations

import itertools
import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlxprobe.gating import ranktest

# Reference values computed with scipy.stats.mannwhitneyu(x, y, alternative="greater").
SCIPY_EXACT = [
    # scipy's documentation example (males vs females): U = 17, exact p = 1/18
    ([19, 22, 16, 29, 24], [20, 11, 17, 12], 17.0, 0.05555555555555555),
    ([4, 5, 6], [1, 2, 3], 9.0, 0.05),
    ([4.2, 5.1, 4.7, 5.5, 3.8, 6.0, 4.9, 5.2, 4.3, 5.8, 4.6, 5.4],
     [3.1, 2.7, 4.4, 5.0, 3.9, 4.1, 2.2, 3.3, 4.8, 3.6, 2.9, 4.0], None,
     0.00042896933460939387),
]
SCIPY_ASYMPTOTIC_TIES = ([2, 3, 3, 4, 4, 5, 5], [1, 2, 2, 3, 3, 3, 4], 0.04301815719753675)


def test_matches_scipy_exact_values() -> None:
    for x, y, u, p in SCIPY_EXACT:
        if u is not None:
            assert ranktest.u_statistic(x, y) == u
        assert math.isclose(ranktest.greater_p(x, y), p, rel_tol=1e-12)


def test_matches_scipy_with_ties() -> None:
    x, y, p = SCIPY_ASYMPTOTIC_TIES
    assert math.isclose(ranktest.greater_p(x, y), p, rel_tol=1e-9)


def brute_force_greater_p(x: list[float], y: list[float]) -> float:
    """P(U >= u) over every equally likely split of the pooled values (no ties)."""
    pooled, u = [*x, *y], ranktest.u_statistic(x, y)
    splits = list(itertools.combinations(range(len(pooled)), len(x)))
    hits = 0
    for chosen in splits:
        xs = [pooled[i] for i in chosen]
        ys = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        hits += ranktest.u_statistic(xs, ys) >= u
    return hits / len(splits)


distinct = st.lists(st.integers(-1000, 1000), min_size=2, max_size=9, unique=True)


@settings(max_examples=60, deadline=None)
@given(distinct, st.data())
def test_exact_p_equals_brute_force(values: list[int], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(values) - 1))
    x, y = values[:cut], values[cut:]
    assert math.isclose(ranktest.greater_p(x, y), brute_force_greater_p(x, y), rel_tol=1e-12)


@given(distinct, st.data())
def test_one_sided_p_values_of_both_directions(values: list[int], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(values) - 1))
    x, y = values[:cut], values[cut:]
    up, down = ranktest.greater_p(x, y), ranktest.greater_p(y, x)
    assert 0 < up <= 1 and 0 < down <= 1
    # P(U >= u) + P(U <= u) = 1 + P(U = u) >= 1 without ties
    assert up + down >= 1 - 1e-12
    assert min(up, down) >= ranktest.smallest_p(len(x), len(y)) - 1e-12


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=15, max_size=20, unique=True),
       st.lists(st.floats(0, 100, allow_nan=False), min_size=15, max_size=20, unique=True))
def test_normal_approximation_is_close_to_exact_for_moderate_samples(x: list[float],
                                                                     y: list[float]) -> None:
    assume(not set(x) & set(y))
    exact = ranktest.greater_p(x, y)
    normal = ranktest._normal_greater_p(ranktest.u_statistic(x, y), x, y)
    assert abs(exact - normal) < 0.02


def test_separated_samples_reach_the_smallest_p() -> None:
    assert ranktest.greater_p([10, 11, 12], [1, 2, 3]) == ranktest.smallest_p(3, 3) == 0.05
    assert ranktest.greater_p([10], [1]) == 0.5  # one run each can never be significant
    assert ranktest.greater_p([], [1.0]) == 1.0
    assert ranktest.greater_p([5.0, 5.0], [5.0, 5.0]) == 1.0
