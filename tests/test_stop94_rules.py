"""Stop 94's verdict changes, each on the shape of the run it was measured on:

- a "loss" whose reports are a coefficient's warm-up (proportional to the step, then held
  exactly) is not judged by the trend rule (fresh368 `jacquard_card_sae`, correct: a sparse
  autoencoder printing its L1 weight as `l1 0.124` beside its objective), while a loss that
  rose and held without being proportional to the step still is.
"""

from __future__ import annotations

from mlxprobe.judging import weighting
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

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
