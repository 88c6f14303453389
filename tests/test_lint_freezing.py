"""MLX044 (rules/freezing.py) on small programs: unfreeze keys that name a child module of the
module's own nn.Module class fire; parameter names, strict=True, a call on the child itself,
a freeze with a child's key (it freezes the child) and an unfreeze that undoes such a freeze
stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.GELU())
        self.head = nn.Linear(8, 2)
        self.scale = mx.ones((2,))

model = Classifier()
model.freeze()
{line}
"""


@pytest.mark.parametrize("line", [
    'model.unfreeze(keys=["head"])',
    'model.unfreeze(keys="head")',
])
def test_mlx044_keys_name_a_child_module(line: str) -> None:
    assert fired(CODE.replace("{line}", line), "MLX044") == [11]


@pytest.mark.parametrize("line", [
    "model.head.unfreeze()",
    'model.unfreeze(keys=["weight", "bias"])',
    'model.unfreeze(keys=["scale"])',
    'model.unfreeze(keys=["head"], strict=True)',
    'model.unfreeze(keys=["decoder"])',
    'model.freeze(keys=("encoder",), recurse=True)',  # freezes the child (fresh92)
])
def test_mlx044_parameter_keys_or_strict_are_clean(line: str) -> None:
    assert fired(CODE.replace("{line}", line), "MLX044") == []


def test_mlx044_an_unfreeze_that_undoes_a_freeze_of_the_same_key_is_clean() -> None:
    # measured (mlx 0.32.4): freeze(keys=["emb"]) drops the child from the trainable
    # parameters and unfreeze(keys=["emb"]) puts it back
    staged = CODE.replace("model.freeze()\n", "").replace(
        "{line}", 'model.freeze(keys=["encoder"])\ntrain(model)\nmodel.unfreeze(keys=["encoder"])')
    assert fired(staged, "MLX044") == []
