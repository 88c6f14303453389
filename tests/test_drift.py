"""A loss that climbs back steadily from its low (`judging.drift`): the `diverged:exploding`
hint names a pull at every step (a weight decay that subtracts a constant, fresh138
`kilnwatt_adamw`) before a step too large; a blow-up in a jump keeps the plain hint."""

from __future__ import annotations

from mlxprobe.judging import drift
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# fresh138 `kilnwatt_adamw_broken` as printed: AdamW's decay written `+ wd`, not `+ wd * p`
TRAIN_MSE = [0.602, 0.1556, 0.1164, 0.1216, 0.1451, 0.1672, 0.24, 0.2883, 0.3571, 0.4366,
             0.4727, 0.5026]


def run(losses: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 200 * (i + 1), "t": float(i),
                "loss": x} for i, x in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_steady_climb_after_the_low_names_a_pull_at_every_step():
    verdict = classify(run(TRAIN_MSE))
    assert verdict.label == "diverged:exploding"
    assert verdict.hint.startswith("the loss climbed back steadily") and "wd * p" in verdict.hint
    assert drift.climb(TRAIN_MSE) == (2, 0.1164, 9)


def test_a_jump_or_a_climb_from_the_first_report_is_no_steady_drift():
    jump = [0.6, 0.2, 0.15, 0.14, 0.15, 0.14, 0.15, 0.14, 0.15, 5.0, 5.1, 5.0]
    assert drift.climb(jump) is None  # one rise holds nearly all of the climb
    assert drift.climb([0.1 * i + 0.1 for i in range(12)]) is None  # it never fell first
    assert not classify(run(jump)).hint.startswith("the loss climbed back")
