"""Stop 80's lint changes.

- MLX024 takes an argument whose default is a number as a setting, not an input a gradient
  flows through (fresh276 `ringroad_wardrop_anderson_jfb`, correct: an Anderson solver run on
  stop_gradient-ed copies adds its ridge `lam * mx.eye(n)` to the matrix it hands
  `mx.linalg.solve`; the rule fired on `lam`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

SOLVER = """
BASE = mx.eye(4)

def ridge_solve({ridge}):
    A = BASE + lam * mx.eye(4)
    return mx.linalg.solve(A, mx.ones((4, 1)), stream=mx.cpu)

def loss_fn(model, x, y):
    a = ridge_solve({given})
    return mx.mean((model(x) * a.sum() - y) ** 2)

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


def test_a_numeric_setting_added_to_a_solved_matrix_is_no_differentiated_input() -> None:
    assert fired(SOLVER.format(ridge="lam=1e-4", given="lam=1e-3"), "MLX024") == []


def test_the_same_argument_without_a_number_default_still_fires() -> None:
    """No default: `lam` may be any array the caller differentiates (the rule keeps its
    reading of the function's own inputs)."""
    assert fired(SOLVER.format(ridge="lam", given="lam=1e-3"), "MLX024") == [6]
