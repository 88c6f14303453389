"""From fresh50's held-out half: MLX025 on a model whose parameters a `tree_map` casts to
float16 through `model.update` before the update that trains it, and not after training
(a small checkpoint cast once training is done)."""

from __future__ import annotations

import pytest
from lint_snippets import fired

CAST = """
model = nn.Linear(4, 4)
optimizer = optim.AdamW(learning_rate=1e-3)
{before}
for step in range(100):
    loss, grads = nn.value_and_grad(model, lambda m: m(mx.ones((2, 4))).sum())(model)
    optimizer.update(model, grads)
{after}
"""
HALF = "model.update(tree_map(lambda a: a.astype(mx.float16), model.parameters()))"


@pytest.mark.parametrize("before, after, lines", [
    (HALF, "", [4]),
    ("", HALF, []),  # cast for the checkpoint once training is done
    (HALF.replace("float16", "float32"), "", []),
    (HALF + "\nmodel.freeze()", "", []),  # frozen: nothing of it trains
])
def test_mlx025_parameters_cast_to_float16_by_update_before_training(before: str, after: str,
                                                                   lines: list[int]):
    assert fired(CAST.format(before=before, after=after), "MLX025") == lines
