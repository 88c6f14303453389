"""MLX126: a differentiated function that returns a sum with a term made a Python number, on
small programs: an L2 penalty through `.item()` (returned directly or through a name) and a
`float()` auxiliary loss fire; the penalty kept as an array, a function no gradient
transformation runs, and a sum that is all numbers stay clean."""

from __future__ import annotations

from lint_snippets import fired

PENALTY = """
def loss_fn(model, x, y, wd):
    l = nn.losses.cross_entropy(model(x), y, reduction="mean")
    reg = sum(mx.sum(p ** 2) for _, p in tree_flatten(model.parameters()))
    return l + wd * reg.item()

def aux_fn(model, x, y):
    total = nn.losses.mse_loss(model(x), y) + 0.1 * float(model.aux(x).mean())
    return total

loss_and_grad = nn.value_and_grad(model, loss_fn)
aux_and_grad = nn.value_and_grad(model, aux_fn)
"""


def test_mlx126_a_term_made_a_python_number_fires():
    assert fired(PENALTY, "MLX126") == [5, 8]


def test_mlx126_array_terms_untransformed_functions_and_all_number_sums_are_clean():
    kept = PENALTY.replace("reg.item()", "reg").replace("float(model.aux(x).mean())",
                                                        "model.aux(x).mean()")
    assert fired(kept, "MLX126") == []
    untransformed = PENALTY.split("loss_and_grad =")[0]
    assert fired(untransformed, "MLX126") == []
    numbers = PENALTY.replace("return l + wd * reg.item()", "return l.item() + reg.item()")
    assert fired(numbers, "MLX126") == [8]
