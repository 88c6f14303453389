"""Stop 82's changes to the output parser and the verdict rules, on the texts of the runs
that showed each:
- a table header written as a comment (`# step  comp.  lr  batch_ce  val_ce ...`, a gnuplot
  habit) names its columns (fresh293 `stonemason_taptest_competence`, correct: the header
  was not read, so each row's competence share, 0.1 -> 1.0, was its loss and the run was
  called `diverged:exploding`); a comment of prose never becomes a header;
- a step word glued to its number at a line's start is the line's step (fresh295
  `flowcell_readthrough`, correct: `@step0050 lr=4.85e-03 train_ll=-1.3484 ...` was read
  only at step 0, whose `train_ll=nan` was an untrained placeholder, so that nan was the
  metric's one report: `diverged:non_finite_metric`);
- `[grad] Must specify at least one argument` names adapter targets for separate projections
  on a model with one fused attention projection (fresh287 `lanternfish_bloom_adapters`);
- the chance hint names blocks with no skip connection (fresh274 `heron_marsh_kwt`).

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging import chance, known_errors
from mlxprobe.watching.output import ProgressParser

COMMENTED = """# step  comp.        lr  batch_ce  val_ce  val_%   hard_%   secs
    1  0.100  0.00e+00   1.6684  1.7628    25.9    22.1    1.0
   80  0.408  1.97e-03   0.0150  0.2994    90.6    77.9    1.6"""


def _parsed(text: str) -> list[dict | None]:
    parser = ProgressParser()
    return [parser.parse(line) for line in text.splitlines()]


def test_a_header_written_as_a_comment_names_its_columns() -> None:
    rows = _parsed(COMMENTED)[1:]
    assert [r["loss"] for r in rows] == [1.6684, 0.015]
    assert rows[0]["loss_name"] == "batch_ce" and rows[1]["metrics"]["val_ce"] == 0.2994


def test_a_comment_of_prose_names_no_columns() -> None:
    text = "# training loss curve\n    5   0.9   0.3"
    assert _parsed(text)[1] == _parsed("    5   0.9   0.3")[0]
    assert _parsed(text)[1] is not None and "loss_name" not in _parsed(text)[1]


RECORDS = """@step0000 lr=0.00e+00 train_ll=nan valid_ll=-1.3922 secs=0.7
TACAAACATTGGTAGGGGCATTTATCTTTCTC
+
@step0050 lr=4.85e-03 train_ll=-1.3484 valid_ll=-1.3065 secs=3.2"""


def test_a_step_word_glued_to_its_number_places_the_record() -> None:
    rows = [r for r in _parsed(RECORDS) if r]
    assert [r["step"] for r in rows] == [0, 50]
    assert rows[1]["metrics"]["train_ll"] == -1.3484


def test_a_glued_step_inside_a_path_is_no_step() -> None:
    assert _parsed("saved ckpt/step0050.npz") == [None]


def test_nothing_to_differentiate_names_a_fused_attention_projection() -> None:
    """fresh287 `lanternfish_bloom_adapters` (mlx-examples d368a9e7): LoRA keys
    `self_attn.q_proj`/`v_proj` on Phi-3, whose attention has one `qkv_proj`."""
    found = known_errors.find("ValueError: [grad] Must specify at least one argument.")
    assert found is not None and "qkv_proj" in found.hint and "fused" in found.hint


def test_chance_hint_names_blocks_with_no_skip_connection() -> None:
    """fresh274 `heron_marsh_kwt` (mlx-examples PR #123): 12 post-norm KWT blocks with no
    residual paths stayed at chance."""
    assert "x = norm1(attn(x)) + x" in chance.HINT and "residual" in chance.HINT
