"""Stop 87's changes to how a run's output is read, on the lines of the runs that showed each:
- a reference line may open with a tag in brackets: `[final] baseline before adapting: token
  acc 0.180` (fresh323 `quarry_siren_dora_chat`, correct: its closing untrained baseline,
  equal to the accuracy before training, was read as the adapted model evaluated again and
  called `wrong_result:reverted`). The same tag before the model's own numbers is read as
  before.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest

from mlxprobe.watching.output import ProgressParser, reference_line


@pytest.mark.parametrize("line", [
    "[final] baseline before adapting: token acc 0.180  exact 0.000",
    "[oast] untrained es_val 0.6123 cover90 41.0% 77.5%",
    "[teacher] chance accuracy 0.412 (majority class)",
])
def test_a_tagged_reference_line_is_no_report(line: str) -> None:
    assert reference_line(line)
    assert ProgressParser().parse(line) is None


@pytest.mark.parametrize("line", [
    "[final] val loss 1.1178  reply token acc 0.608  exact 0.000",
    "[step 3] loss 0.5 acc 0.25",
    "[2/5] baseline: 0.5 loss 0.4",
    "epoch 3 [val] baseline 0.5 loss 0.4",
])
def test_the_models_own_tagged_lines_are_read(line: str) -> None:
    assert not reference_line(line)
    assert ProgressParser().parse(line) is not None
