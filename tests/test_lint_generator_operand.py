"""MLX137: a name bound to a bare generator expression used in arithmetic."""

from __future__ import annotations

from lint_snippets import fired

CODE = """
def loss_fn(model, x, y):
    ce = nn.losses.cross_entropy(model(x), y, reduction="mean")
    l2 = (
        1e-4 * mx.sum(mx.square(p)) for _, p in tree_flatten(model.parameters())
    )
    return ce + l2
"""


def test_mlx137_a_generator_added_to_a_loss():
    assert fired(CODE, "MLX137") == [7]


def test_mlx137_summed_generators_and_generators_that_are_iterated_are_clean():
    summed = CODE.replace("    l2 = (\n", "    l2 = sum(\n")
    iterated = CODE.replace("return ce + l2", "return ce + sum(t for t in l2)")
    for code in (summed, iterated):
        assert fired(code, "MLX137") == []
