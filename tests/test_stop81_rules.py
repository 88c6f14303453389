"""Stop 81's changes to the verdict rules and the crash causes, on the texts and numbers of
the runs that showed each:
- an array's shape unpacked into names, and the array has one axis more (fresh290
  `thimble_atlas_vqa`, Qwen2.5-VL LoRA notebook 19441a0: `batch_size, seq_length =
  input_ids.shape` after a batch axis was added to items the dataset had already batched)
  or fewer than the line names: the hint says which and where to look;
- a loss exactly 0 at every report names a (log-)softmax over an axis of size 1 among its
  causes (fresh292 `loomweft_tally_crossent`, keras #23076: a hand-written cross-entropy
  normalised channels-first logits over their last axis, of size 1);
- 4-D feature maps that differ in their channels alone name a shortcut's projection
  (`tests/test_known_errors.py`); a held-out error's stated baseline is read after its own
  name (`tests/test_worse_than_baseline.py`); a table whose aligned names hold no position
  or metric is no progress (`tests/test_columns.py`).

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

import pytest

from mlxprobe.judging import hints, stalls
from mlxprobe.judging.program import raised

UNPACK = """Traceback (most recent call last):
  File "/work/vqa.py", line 210, in <module>
    loss, grads = loss_and_grad(model, batch)
  File "/work/vqa.py", line 133, in loss_fn
    batch_size, seq_length = input_ids.shape
    ^^^^^^^^^^^^^^^^^^^^^^
ValueError: {message}
"""


@pytest.mark.parametrize("message, says", [
    ("too many values to unpack (expected 2)", "one axis more"),
    ("not enough values to unpack (expected 3, got 2)", "fewer axes"),
])
def test_a_shape_unpacked_into_names_says_which_axis_is_extra_or_missing(
        message: str, says: str) -> None:
    text = UNPACK.format(message=message)
    error = raised(text)
    assert error is not None
    hint = hints.for_error(*error, text)
    assert says in hint and "`input_ids.shape`" in hint and "vqa.py:133" in hint


def test_a_call_unpacked_into_names_keeps_its_own_cause() -> None:
    text = UNPACK.format(message="too many values to unpack (expected 2)").replace(
        "batch_size, seq_length = input_ids.shape", "logits, cache = model(x)")
    error = raised(text)
    assert error is not None and "returns" in hints.for_error(*error, text)


def test_a_loss_exactly_zero_names_a_softmax_over_an_axis_of_size_one() -> None:
    hint = stalls.zero_loss([0.0] * 12)
    assert hint is not None and "axis of size 1" in hint and "log_softmax" in hint
