"""From fresh52's held-out half: MLX038 following a top-k helper's parameter to the layer its
callers pass (`mlx_topk(self.router(x), k)`), one call deep, with the spellings that are
right beside it."""

from __future__ import annotations

import pytest
from lint_snippets import fired

ROUTER = """
def mlx_topk(a, k, axis=-1):
    idx = mx.argpartition(a, kth=-k, axis=axis)[..., -k:]
    return mx.take_along_axis(a, {indices}, axis=axis), idx

class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(8, 4)

    def __call__(self, x):
        scores = {scores}
        values, idx = mlx_topk(scores, 2)
        return values.sum()

model = MoE()
loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((2, 8))))(model)
"""


@pytest.mark.parametrize("indices, scores, lines", [
    ("idx", "self.router(x)", [3]),
    ("mx.stop_gradient(idx)", "self.router(x)", []),
    ("idx", "mx.ones((2, 4))", []),  # no layer's output: nothing to differentiate
])
def test_mlx038_a_helpers_indices_from_the_layer_its_caller_passes(indices: str, scores: str,
                                                                  lines: list[int]):
    assert fired(ROUTER.format(indices=indices, scores=scores), "MLX038") == lines
