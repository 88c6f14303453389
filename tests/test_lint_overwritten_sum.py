"""MLX130: a gradient accumulator overwritten from the last micro-batch's gradients before
the update it feeds, on small programs: a step function and a loop that rebind the
accumulator from `grads` fire; scaling the accumulator itself, and an update of the current
gradients with no accumulator, stay clean."""

from __future__ import annotations

from lint_snippets import fired

STEP = """
def step(x, y, acc, i):
    loss, grads = loss_and_grad(model, x, y)
    acc = tree_map(lambda a, g: a + g, acc, grads)
    if (i + 1) % N == 0:
        acc = tree_map(lambda g: g / N, grads)
        optimizer.update(model, acc)
        acc = tree_map(mx.zeros_like, model.parameters())
    return loss, acc

total = tree_map(mx.zeros_like, model.parameters())
for i, (x, y) in enumerate(batches):
    loss, grads = loss_and_grad(model, x, y)
    total = tree_map(mx.add, total, grads)
    if i % N == N - 1:
        total = tree_map(lambda g: g / N, grads)
        optimizer.update(model, total)
        mx.eval(model.parameters(), optimizer.state)
"""


def test_mlx130_an_accumulator_rebound_from_the_last_gradients_fires():
    assert fired(STEP, "MLX130") == [6, 16]


def test_mlx130_a_scaled_accumulator_and_a_plain_update_are_clean():
    scaled = STEP.replace("tree_map(lambda g: g / N, grads)\n        optimizer.update(model, acc)",
                          "tree_map(lambda g: g / N, acc)\n        optimizer.update(model, acc)"
                          ).replace("total = tree_map(lambda g: g / N, grads)",
                                    "total = tree_map(lambda g: g / N, total)")
    assert fired(scaled, "MLX130") == []
    plain = """
for x, y in batches:
    loss, grads = loss_and_grad(model, x, y)
    grads = tree_map(lambda g: g * 0.5, grads)
    optimizer.update(model, grads)
"""
    assert fired(plain, "MLX130") == []
