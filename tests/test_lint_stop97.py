"""Stop 97's lint changes, each on the shape of the corpus script that showed it:
- MLX005 leaves alone a sum of micro-batch gradients each of which was divided before it was
  added (`g = tree_map(lambda a: a / MICRO, g)` then `tree_map(mx.add, acc, g)`: the sum is
  the mean; fresh386 `lehr_anneal_bf16`, whose other finding, MLX056, was measured true: its
  checkpointed blocks got gradients of exactly 0); a summand that was only clipped, or only
  one of two summands divided, still fires.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

ACCUMULATED = """
grad_fn = nn.value_and_grad(model, loss_fn)
for u in range(UPDATES):
    acc = None
    for k in range(MICRO):
        loss, g = grad_fn(x, y)
        g = {scaled}
        acc = g if acc is None else tree_map(mx.add, acc, g)
    optimizer.update(model, acc)
    mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx005_is_quiet_when_each_summand_was_divided_first() -> None:
    for scaled in ("tree_map(lambda a: a.astype(mx.float32) / MICRO, g)",
                   "{k: v / MICRO for k, v in g.items()}",
                   "tree_map(lambda a: a * (1.0 / MICRO), g)"):
        assert fired(ACCUMULATED.format(scaled=scaled), "MLX005") == [], scaled


def test_mlx005_fires_when_a_summand_was_only_clipped_or_cast() -> None:
    for scaled in ("optim.clip_grad_norm(g, 1.0)[0]",
                   "tree_map(lambda a: a.astype(mx.float32), g)"):
        assert fired(ACCUMULATED.format(scaled=scaled), "MLX005") == [9], scaled


def test_mlx005_fires_when_only_one_of_two_summands_was_divided() -> None:
    code = """
    for u in range(UPDATES):
        acc = None
        for k in range(MICRO):
            _, g1 = grad_fn(x1, y1)
            _, g2 = grad_fn(x2, y2)
            g1 = tree_map(lambda a: a / MICRO, g1)
            acc = g1 if acc is None else tree_map(lambda a, b, c: a + b + c, acc, g1, g2)
        optimizer.update(model, acc)
    """
    assert fired(code, "MLX005") == [9]
    assert fired(code.replace("            _, g2 = grad_fn(x2, y2)\n",
                              "            _, g2 = grad_fn(x2, y2)\n"
                              "            g2 = tree_map(lambda a: a / MICRO, g2)\n"),
                 "MLX005") == []
