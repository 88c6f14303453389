"""MLX047 (rules/unbound.py) on small programs: a training module that reads a name nothing
binds fires once per name; builtins, names bound anywhere (a later def, a parameter, an
import, `except ... as`, a comprehension), modules that are not training loops and modules
that write their own namespace stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

LOOP = """
loss_and_grad = nn.value_and_grad(model, loss_fn)
for it in range(100):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    if it % 50 == 0:
        {line}
"""


BOUND = "model = optimizer = x = y = loss_fn = eval_fn = valid = None\n"


def loop(line: str) -> str:
    return LOOP.replace("{line}", line)


@pytest.mark.parametrize("line", [
    "val_loss = eval_fn(params, valid)",
    "print(val_loss); print(val_loss)",
    "mx.save(checkpoint_path, model.parameters())",
])
def test_mlx047_name_bound_nowhere(line: str) -> None:
    code = BOUND + loop(line)
    assert fired(code, "MLX047") == [9]


@pytest.mark.parametrize("line", [
    "print(len(model.parameters()), max(1, it))",
    "val = evaluate(model)\n\ndef evaluate(m):\n    return m",
    "print([k for k, _ in tree_flatten(grads)])",
    "try:\n            pass\n        except ValueError as err:\n            print(err)",
    "print(__file__, __name__)",
])
def test_mlx047_bound_or_builtin_names_are_clean(line: str) -> None:
    code = BOUND + loop(line)
    assert fired(code, "MLX047") == []


def test_mlx047_dynamic_namespace_or_no_training_is_clean() -> None:
    assert fired(BOUND + "globals()['params'] = 1" + loop("print(params)"), "MLX047") == []
    assert fired("def report():\n    print(params)\n", "MLX047") == []


def test_mlx047_read_at_every_step_fires_too() -> None:
    """Since stop 69 (fresh233 `kiln_glaze_completions`: a helper a refactor removed, called
    at the first batch): a training module's unbound name fails the run wherever it is."""
    code = BOUND + LOOP.replace("    if it % 50 == 0:\n        {line}\n", "    print(params)\n")
    assert "params" in code and fired(code, "MLX047") == [8]
