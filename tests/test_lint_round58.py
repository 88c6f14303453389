"""From fresh57's and fresh58's halves: MLX168 (a module attribute holding an MLX array tested
for its truth) and MLX169 (an integer count capped with `min(1, n)` where a floor was meant),
with the spellings right beside them that must stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

LAYER = """
class LayerNorm(nn.Module):
    def __init__(self, dims, bias=False):
        super().__init__()
        self.bias = bias
        if bias:
            self.bias = mx.zeros((dims,))
        self.weight = mx.ones((dims,))
        self.use_bias = bias

    def __call__(self, x):
        {test}
            return self.weight * x + self.bias
        return self.weight * x
"""


@pytest.mark.parametrize("test, lines", [
    ("if self.bias:", [12]),
    ("if not self.weight:", [12]),
    ("if self.use_bias and self.bias:", [12]),
    ("if self.use_bias:", []),  # a flag kept apart
    ("if self.bias is not None:", []),  # a comparison is no truth test
    ('if "bias" in self:', []),
])
def test_mlx168_an_array_attribute_read_for_its_truth(test: str, lines: list[int]):
    assert fired(LAYER.format(test=test), "MLX168") == lines


def test_mlx168_an_attribute_never_bound_to_an_array_is_silent():
    code = """
class Block(nn.Module):
    def __init__(self, dims, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.proj = nn.Linear(dims, dims)

    def __call__(self, x):
        if self.dropout:
            x = x * 0.9
        return self.proj(x)
"""
    assert fired(code, "MLX168") == []


@pytest.mark.parametrize("lines_of_code, fires", [
    ("n = int(0.01 * total)\nn = min(1, n)", True),
    ("n = len(rows) // 10\nn = min(n, 1)", True),
    ("n = min(1, int(share * total))", True),
    ("n = min(1, len(rows))", True),
    ("n = int(0.01 * total)\nn = max(1, n)", False),  # the floor
    ("factor = min(1, step / warmup)", False),  # a fraction clamped to 1
    ("scale = min(1.0, clip / norm)", False),
    ("n = int(total)\nn = min(4, n)", False),  # a cap other than one
    ("n = 0.5 * total\nn = min(1, n)", False),  # not a count
])
def test_mlx169_a_count_capped_at_one(lines_of_code: str, fires: bool):
    body = "\n    ".join(lines_of_code.splitlines())
    code = f"""
def plan(total, rows, share, step, warmup, clip, norm):
    {body}
    return n
"""
    assert bool(fired(code, "MLX169")) == fires
