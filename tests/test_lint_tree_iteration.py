"""MLX116: a loop or comprehension over a parameter or gradient tree itself that uses each item
as an array, on small programs: over `model.parameters()`, over `tree_map(...)` and over the
gradients of a value_and_grad it fires; over `tree_flatten(...)`, `.items()`, and a loop
that reads `grads[k]` with each key, it stays clean."""

from __future__ import annotations

from lint_snippets import fired

KEYS = """
loss_and_grad = nn.value_and_grad(model, loss_fn)

def norms(model, grads):
    a = sum((p * p).sum() for p in model.parameters())
    b = mx.sqrt(sum((g * g).sum() for g in tree_map(lambda x: x, grads)))
    return a, b

def step(model, x, y):
    loss, grads = loss_and_grad(model, x, y)
    total = 0.0
    for g in grads:
        total += g.square().sum()
    return total
"""
LEAVES = """
loss_and_grad = nn.value_and_grad(model, loss_fn)

def norms(model, grads):
    a = sum((p * p).sum() for _, p in tree_flatten(model.parameters()))
    b = sum((g * g).sum() for _, g in grads.items())
    return a, b

def step(model, x, y):
    loss, grads = loss_and_grad(model, x, y)
    names = [k.upper() for k in grads]
    for k in grads:
        print(k, grads[k].shape)
    return names
"""


def test_mlx116_iterating_a_tree_as_leaves_fires():
    assert fired(KEYS, "MLX116") == [5, 6, 12]


def test_mlx116_leaves_items_and_keys_used_as_keys_are_clean():
    assert fired(LEAVES, "MLX116") == []
