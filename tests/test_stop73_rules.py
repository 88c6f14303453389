"""Stop 73's changes to the verdict rules, on the numbers of the runs that showed each:
- `not_learning.constant` stands down when the run's own loss, as its reports named it,
  fell beside the fixed metric (fresh250 `herbarium_label_copyexpand`: `nll_sent` 44.0 ->
  0.62 beside `floor_nll_sent` 0.61086 at every validation, a floor computed once);
- a share of exact matches (`greedy match`) reads as accuracy-like: a GRPO surrogate at 0
  beside it rising is learning (fresh251 `ropewalk_tarring_grpo_ok`);
- a crash's cause for an IndexError raised in a dataset's own `__getitem__` is in
  tests/test_crash_causes.py, with the other causes.

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

FLOOR = 0.61086


def report(step: int, loss: float, name: str, metrics: dict) -> dict:
    return {"kind": "progress", "source": "output", "step": step, "loss": loss,
            "loss_name": name, "metrics": metrics, "t": float(step)}


def run(losses: list[float]) -> RawResult:
    records = [report(1, FLOOR, "floor_nll_sent", {"chance_nll_tok": 5.7714})]
    for i, loss in enumerate(losses, start=2):
        records.append(report(i, loss, "nll_sent", {"floor_nll_sent": FLOOR}))
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail="")


def test_a_fixed_floor_beside_a_falling_loss_is_a_reference() -> None:
    assert classify(run([44.0, 23.8, 3.09, 0.70, 0.62, 0.63, 0.62])).label == "pass"


def test_a_fixed_floor_beside_a_loss_that_never_fell_is_still_judged() -> None:
    verdict = classify(run([0.7142] * 7))
    assert verdict.label == "not_learning:constant"
    assert verdict.evidence["metric"] == "floor_nll_sent"


def test_a_zero_surrogate_beside_a_rising_match_share_is_learning() -> None:
    # fresh251 ropewalk_tarring_grpo_ok: GRPO loss -0.0000 at every report while its greedy
    # exact-match share rose 0.625 -> 1.000; `match` reads as accuracy-like now
    shares = [0.625, 0.812, 0.875, 0.938] + [1.0] * 8
    records = [{"kind": "progress", "source": "output", "step": 10 * i, "loss": 0.0,
                "metrics": {"match": share}, "t": float(i)} for i, share in enumerate(shares, 1)]
    raw = RawResult(records=records, exit_code=0, watched=True, stdout_tail="")
    assert classify(raw).label == "pass"
