"""Stop 94's verdict changes, each on the shape of the run it was measured on:

- a "loss" whose reports are a coefficient's warm-up (proportional to the step, then held
  exactly) is not judged by the trend rule (fresh368 `jacquard_card_sae`, correct: a sparse
  autoencoder printing its L1 weight as `l1 0.124` beside its objective), while a loss that
  rose and held without being proportional to the step still is;
- a split's word before a two-word name names a held-out value (`held-out summed loss`,
  `val mean loss`), a step-and-loss form whose loss the line names only as held-out is
  read by the names, and the rows under a table header whose names could not be placed
  over them are not read as headerless step/loss rows (fresh369
  `ropewalk_strand_tsample_resume`, correct: its learning rate was read as the loss, then
  its held-out loss at a checkpoint, `diverged:spike`);
- a report counts as higher than the one before for `leak:unevaluated` only by more than a
  quarter of the stretch's mean rise (fresh357 `cloakroom_delta_recall`, correct, watched
  again: a flat stretch ending in one jump of RSS).
"""

from __future__ import annotations

from mlxprobe.judging import unevaluated, weighting
from mlxprobe.judging.verdict import classify
from mlxprobe.watching import fields
from mlxprobe.watching.facts import RawResult, Sample
from mlxprobe.watching.output import ProgressParser

OBJECTIVE = (0.7858, 1.1243, 1.286, 1.0746, 1.1662, 1.1545, 1.1629, 1.1125, 1.2859, 1.064,
             1.1097, 1.0451)
SCHEDULE = (0.124, 0.249) + (0.3,) * 10


def sae_run(l1: tuple[float, ...]) -> RawResult:
    records: list[dict] = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "step", "source": "update", "step": s, "t": 0.1 + s / 400,
                 "step_s": 0.0025} for s in range(1, 3001)]
    records += [{"kind": "progress", "source": "output", "step": 250 * (i + 1),
                 "t": 0.1 + 250 * (i + 1) / 400, "loss": v, "loss_name": "l1",
                 "metrics": {"objective": o}} for i, (v, o) in enumerate(zip(l1, OBJECTIVE))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_warm_up_printed_under_a_loss_name_is_not_judged() -> None:
    raw = sae_run(SCHEDULE)
    found = weighting.scheduled_loss(raw)
    assert found is not None and found["held"] == 0.3 and found["held_reports"] == 10
    verdict = classify(raw)
    assert verdict.label == "pass", verdict.reason
    assert "reads as a warm-up schedule" in verdict.reason


def test_a_loss_that_rose_and_held_off_the_step_line_is_still_judged() -> None:
    rose = (0.124, 0.2) + (0.3,) * 10  # 4.96e-4 and 4.0e-4 a step: no linear warm-up
    raw = sae_run(rose)
    assert weighting.scheduled_loss(raw) is None
    assert classify(raw).label == "not_learning:trend"


# fresh369 `ropewalk_strand_tsample_resume` (correct): a held-out loss at a checkpoint read as
# the training loss, and a barred table whose header could not be placed over its rows read
# with each row's learning rate as its loss

def test_a_split_word_before_a_two_word_name_names_a_held_out_value() -> None:
    assert fields.read("held-out summed loss 1.42797").values == {
        "held_out_summed_loss": 1.42797}
    assert fields.read("val mean loss 1.2").values == {"val_mean_loss": 1.2}
    assert fields.read("train loss 1.0 val loss 2.0").values == {"train_loss": 1.0,
                                                                "val_loss": 2.0}
    assert fields.read("epoch 3 test acc 0.9 mean loss 1.2").values == {"test_acc": 0.9,
                                                                       "mean_loss": 1.2}


def parsed(lines: list[str]) -> list[dict]:
    parser = ProgressParser()
    return [r for line in lines if (r := parser.parse(line)) is not None]


def test_a_step_and_loss_form_over_a_held_out_loss_is_not_the_training_loss() -> None:
    found = parsed(["checkpoint written at step 1200; held-out summed loss 1.42797"])
    assert [r.get("loss") for r in found] == [None]
    assert found[0]["metrics"] == {"held_out_summed_loss": 1.42797}
    assert parsed(["at step 1200 loss 1.4"])[0]["loss"] == 1.4


TABLE = [
    "  step |     lr   | draws l/g/k      | huber  ce_grade ce_kink | load RMSE kN (mean-only)",
    "   300 | 1.98e-03 |  148/ 93/ 59     | 0.0640 0.5182  0.5125  |   2.26 ( 11.67)",
    "   600 | 1.81e-03 |  154/ 86/ 60     | 0.0142 0.3835  0.3914  |   1.71 ( 11.67)",
]


def test_rows_under_a_header_that_could_not_be_placed_are_not_read_headerless() -> None:
    assert [r.get("loss") for r in parsed(TABLE)] == []
    assert [r.get("loss") for r in parsed(TABLE[1:])] == [0.00198, 0.00181]


# fresh357 `cloakroom_delta_recall` (correct), watched again at stop 94: a flat stretch of
# reports that ends in one jump of RSS is no climb

def test_a_flat_stretch_that_ends_in_one_jump_is_no_climb() -> None:
    flat = [136.7, 138.7, 136.2, 136.9, 159.9]
    assert unevaluated.climb(rss_run(flat), reports(len(flat))) is None
    steady = [136.2, 142.0, 147.5, 153.9, 159.9]
    assert unevaluated.climb(rss_run(steady), reports(len(steady))) is not None


def reports(n: int) -> list[dict]:
    return [{"kind": "progress", "t": 1.0 + i} for i in range(n)]


def rss_run(mb: list[float]) -> RawResult:
    samples = [Sample(t=1.0 + i, rss=int(v * unevaluated.MB), cpu_s=1.0, procs=1,
                      compiling=False)
               for i, v in enumerate(mb)]
    return RawResult(records=[], samples=samples, exit_code=0, watched=True)
