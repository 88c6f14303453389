"""MLX063 (rules/accumulation.py) on small programs: `agg[idx] += v` and `agg[idx] = agg[idx]
+ v` on an MLX array with array indices fire; `.at[idx].add`, scalar loop indices, slices and
non-MLX targets stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("body", [
    "agg[dst] += m",
    "agg[dst] = agg[dst] + m",
    "agg[:, dst] -= m",
    "agg[best] += m",
    "agg[mx.array(ids)] += m",
])
def test_mlx063_indexed_accumulation_with_array_indices(body: str) -> None:
    code = f"""
def scatter(m, dst, ids, n: int):
    best = mx.argmax(m, axis=-1)
    agg = mx.zeros((n, 4))
    {body}
    return agg
"""
    assert fired(code, "MLX063") == [5]


@pytest.mark.parametrize("body", [
    "agg = agg.at[dst].add(m)",
    "agg[dst] = m",
    "agg[n] += m[0]",
    "agg[1:3] += m[:2]",
    "for i in range(n):\n        agg[i] += m[i]",
    "counts = np.zeros(n)\n    counts[dst] += 1",
    "agg[dst] = other[dst] + m",
    "order = mx.argsort(dst)\n    agg[order] += m",
    "rows = mx.arange(n)\n    agg[rows, rows] += 1.0",
    "pos = mx.array(np.where(np.array(dst) > 0)[0])\n    agg[pos] = agg[pos] + m",
])
def test_mlx063_scatter_add_and_single_entries_are_clean(body: str) -> None:
    code = f"""
def scatter(m, dst, other, n: int):
    agg = mx.zeros((n, 4))
    {body}
    return agg
"""
    assert fired(code, "MLX063") == []


def test_mlx063_fires_in_a_scripts_top_level_loop():
    """fresh58 sparse_rowupdate_dup_ids: a matrix factorisation whose loop is the script's
    own code, `P[u] -= lr * g` with `u` the batch's user ids; a top-level `.at[u].add` and an
    index from `mx.arange` stay silent."""
    code = """
P = mx.zeros((10, 4))
for epoch in range(3):
    u = mx.array(ids[epoch])
    P[u] -= 0.1 * g
    rows = mx.arange(10)
    P[rows] += 1.0
    P = P.at[u].add(-0.1 * g)
"""
    assert fired(code, "MLX063") == [5]
