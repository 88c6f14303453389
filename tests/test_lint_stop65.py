"""Stop 65's lint rules, each on the spelling its corpus case had and on the ones it must
leave alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

EMBED = """
import mlx.core as mx

def embed(weight, ids, h, x):
    {line}
    return ids
"""


@pytest.mark.parametrize("line, expected", [
    ("ids = mx.max(ids, 0)", [5]),  # fresh189 moshi_scaled_embed_batch_max
    ("ids = mx.min(ids, 0.0)", [5]),
    ("ids = mx.maximum(ids, 0)", []),  # the clamp
    ("h = mx.max(h, 1)", []),  # a max-pool over the sequence
    ("ids = mx.max(ids, axis=0)", []),  # an axis named: a reduction meant
    ("x = mx.max(ids, 0)", []),  # a new name: a reduction read as one
])
def test_mlx203_a_reduction_over_axis_0_rebound_as_a_clamp(line: str, expected) -> None:
    assert fired(EMBED.format(line=line), "MLX203") == expected
