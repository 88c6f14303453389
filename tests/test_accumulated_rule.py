"""`wrong_result.accumulated`: an accuracy printed as a fraction that counts past 1 by one
window's accuracy a report (fresh56 `dpo_report_window_metrics`: metric sums kept across
reports, the count reset). Checked beside the shapes near it: a percentage from near 0, an
accuracy in [0, 1], a reward, too few reports above 1."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(values: list[float], name: str = "accuracy") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": float(i),
                "loss": 0.7 * 0.85 ** i, "metrics": {name: v}} for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


SUMMED = [0.978 + i for i in range(16)]


def test_an_accuracy_summed_over_every_window_is_wrong_result_accumulated():
    verdict = classify(run(SUMMED))
    assert verdict.label == "wrong_result:accumulated", verdict
    assert "reset" in verdict.hint.lower() and verdict.evidence["metric"] == "accuracy"


def test_a_low_accuracy_summed_is_read_too():
    assert classify(run([0.3 * (i + 1) for i in range(12)])).label == "wrong_result:accumulated"


def test_percentages_fractions_rewards_and_short_climbs_are_not_judged():
    percent_from_zero = [0.4, 0.9, 1.3, 1.7, 1.9]  # % of a 1000-class start, top < 2
    assert classify(run(percent_from_zero)).kind == "pass"
    assert classify(run([10.0, 35.0, 60.0, 71.0, 80.0])).kind == "pass"  # a % from 10
    assert classify(run([0.5, 0.7, 0.8, 0.9, 0.95])).kind == "pass"
    assert classify(run(SUMMED, "mean_reward")).kind == "pass"
    assert classify(run(SUMMED, "acc_pct")).kind == "pass"
    assert classify(run([0.9, 1.9, 2.9])).kind == "pass"  # 2 reports above 1
