"""MLX079 on small programs: an accumulator named like the loss function it shadows; and the
near misses that stay silent (the accumulator named apart, a number never called)."""

from __future__ import annotations

from lint_snippets import fired

EVAL = """
def loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

def evaluate(model, batches):
    {acc} = 0
    for x, y in batches:
        {acc} += loss(model, x, y).item()
    return {acc}
"""


def test_mlx079_an_accumulator_shadows_the_loss_function() -> None:
    assert fired(EVAL.format(acc="loss"), "MLX079") == [8]


def test_mlx079_silent_when_the_names_differ() -> None:
    assert fired(EVAL.format(acc="total"), "MLX079") == []
    assert fired("def f(x):\n    n = 0\n    return n + g(x)\n", "MLX079") == []
