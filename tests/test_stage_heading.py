"""A stage announced on a line of its own (`output.stage_heading`) is a boundary
`judging/phases.py` reads, and a reference aside in parentheses (`output.REFERENCE_ASIDE`) is
not the line's value (stop 97: fresh382 `reindeer_collar_allsum` and
`tidemill_stones_evalworker`, both correct)."""

from __future__ import annotations

from mlxprobe.judging import phases
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

# fresh382 `reindeer_collar_allsum`'s train xent: clear days, then clear+mixed days
EASY = [0.1827, 0.0764, 0.0743, 0.0685, 0.0639]
MIXED = [0.7345, 0.5536, 0.5393, 0.5261, 0.5373, 0.5119, 0.5192]


def parsed(lines: list[str]) -> list[dict]:
    """The records a parser makes of `lines`, each stamped with its line's index as `t`."""
    parser, out = ProgressParser(), []
    for t, line in enumerate(lines):
        record = parser.parse(line)
        if record is not None:
            out.append({**record, "t": float(t)})
    return out


def curriculum(heading: str | None) -> RawResult:
    lines = [f"step {100 * (i + 1):5d}  train xent {v:.4f}  test acc 0.80{i % 9}"
             for i, v in enumerate(EASY)]
    lines += [heading] if heading is not None else []
    lines += [f"step {100 * (i + 6):5d}  train xent {v:.4f}  test acc 0.81{i % 9}"
              for i, v in enumerate(MIXED)]
    return RawResult(records=parsed(lines), exit_code=0, watched=True)


def test_a_stage_announced_on_its_own_line_is_a_heading_not_progress():
    for line in ("-- stage: clear+mixed days (6000 days)", "=== Phase 2: fine-tune ===",
                 "stage 2: reload checkpoint, restart cosine at a lower peak, 450 more steps",
                 "[stage B] full fine-tune"):
        [record] = parsed([line])
        assert record["kind"] == "heading" and record["text"] == line.strip()


def test_a_line_that_reports_a_value_or_only_mentions_a_stage_is_no_heading():
    [record] = parsed(["stage 2 step 10 loss 0.5"])
    assert record["kind"] == "progress" and record["loss"] == 0.5
    assert parsed(["staged rollout of 3 workers", "phase_shift 0.2 rad", "the stage is set"]) \
        == []


def test_a_jump_after_a_heading_starts_the_last_curve_and_the_run_passes():
    raw = curriculum("-- stage: clear+mixed days (6000 days)")
    losses = EASY + MIXED
    assert phases.last_start(raw, losses) == len(EASY)
    assert classify(raw).kind == "pass"


def test_the_same_jump_with_no_heading_stays_one_curve_that_exploded():
    raw = curriculum(None)
    assert phases.last_start(raw, EASY + MIXED) == 0
    verdict = classify(raw)
    assert (verdict.kind, verdict.detail) == ("diverged", "exploding")


def test_a_heading_before_a_loss_that_keeps_climbing_excuses_no_blow_up():
    """The new curve is judged on its own: a loss that rises 4x over the stage's twelve
    reports still reads as exploding (a curve of fewer than ten is not judged at all)."""
    climbing = [0.7345, 0.8, 0.9, 1.0, 1.2, 1.3, 1.5, 1.8, 2.0, 2.2, 2.6, 3.1]
    lines = [f"step {100 * (i + 1)} loss {v:.4f}" for i, v in enumerate(EASY)]
    lines += ["-- stage 2: harder days"]
    lines += [f"step {100 * (i + 6)} loss {v:.4f}" for i, v in enumerate(climbing)]
    verdict = classify(RawResult(records=parsed(lines), exit_code=0, watched=True))
    assert (verdict.kind, verdict.detail) == ("diverged", "exploding")


def test_a_reference_aside_in_parentheses_is_not_the_lines_loss():
    """fresh382 `tidemill_stones_evalworker`: its worker's line was read as a training loss
    of 1.000, the predict-the-mean reference."""
    [record] = parsed(["  [worker] step 300: val mse 0.0359  r2 0.964  (predict-mean mse 1.000)"])
    assert "loss" not in record
    assert record["metrics"] == {"val_mse": 0.0359, "r2": 0.964}
    [record] = parsed(["epoch 3 loss 0.412 acc 0.91 (chance 0.25, baseline loss 1.386)"])
    assert record["loss"] == 0.412 and set(record["metrics"]) == {"acc"}


def test_an_aside_that_names_the_untrained_model_or_no_reference_is_read():
    [record] = parsed(["sitting 1 (untrained: val ce 1.628, 21.7% right)"])
    assert record["metrics"]["val_ce"] == 1.628
    [record] = parsed(["epoch 3 loss 0.412 (val loss 0.50)"])
    assert record["loss"] == 0.412 and record["metrics"]["val_loss"] == 0.5


def test_a_blanked_aside_keeps_a_table_row_under_its_header():
    records = parsed(["step   loss    val_loss",
                      "  10   0.900   0.950   (baseline 1.10)",
                      "  20   0.700   0.800"])
    assert [(r["step"], r["loss"]) for r in records] == [(10, 0.9), (20, 0.7)]
