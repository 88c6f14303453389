"""Stop 79's lint changes.

- MLX189 leaves a next-token loss on the model's own input ids alone: targets sliced from the
  array the logits were computed from hold no -100 (fresh277 `weir_sluice_drafter_ok`: a
  pretraining loss `ce(m(x[:, :-1]), x[:, 1:])` beside an adapter loss whose labels are
  padded with -100 and masked).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

PRETRAINING = """
IGNORE = -100

def pad_labels(lab, n):
    return lab + [IGNORE] * (n - len(lab))

def lm_loss(m, x):
    {body}
"""


@pytest.mark.parametrize("body", [
    'return nn.losses.cross_entropy(m(x[:, :-1]), x[:, 1:], reduction="mean")',
    'logits = m(x[:, :-1])\n    return nn.losses.cross_entropy(logits, x[:, 1:], '
    'reduction="mean")',
])
def test_targets_sliced_from_the_models_own_input_are_no_padded_labels(body: str) -> None:
    assert fired(PRETRAINING.format(body=body), "MLX189") == []


@pytest.mark.parametrize("body", [
    'return nn.losses.cross_entropy(m(x[:, :-1]), y[:, 1:], reduction="mean")',
    'logits = m(x)\n    return nn.losses.cross_entropy(logits, labels[:, 1:], '
    'reduction="mean")',
])
def test_targets_from_another_array_still_fire(body: str) -> None:
    program = PRETRAINING.replace("(m, x)", "(m, x, y, labels)").format(body=body)
    assert fired(program, "MLX189") == [8 + body.count("\n")]
