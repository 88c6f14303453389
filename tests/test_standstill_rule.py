"""`no_update.stopped`: every parameter stops changing part-way while optimizer updates go
on (updates reaching another copy of the model). Checked on that shape and on the correct
shapes near it: an evaluation pass with no updates, a short tail, a converged loss."""

from __future__ import annotations

from mlxprobe.judging.standstill import STILL_LOOKS, still_tail
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def look(updates: int, changed: bool) -> dict:
    return {"kind": "params", "step": updates, "updates": updates, "t": updates / 60,
            "leaves": 6,
            "compared": 3, "changed": 3 if changed else 0,
            "unchanged": [] if changed else ["fc1", "fc2", "fc3"],
            "unchanged_count": 0 if changed else 3, "nonfinite": []}


def losses(values: list[float]) -> list[dict]:
    return [{"kind": "progress", "source": "output", "step": 60 * (i + 1), "t": i + 1.0,
             "loss": v} for i, v in enumerate(values)]


def run(looks: list[dict], loss: list[float]) -> RawResult:
    return RawResult(records=[*looks, *losses(loss)], exit_code=0, watched=True)


FALLING = [0.13, 0.05, 0.03, 0.02, 0.012, 0.011, 0.0105, 0.0104, 0.0106, 0.0103]


def test_parameters_that_stop_changing_while_updates_go_on_are_no_update_stopped():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    verdict = classify(run(looks, FALLING))
    assert (verdict.kind, verdict.detail) == ("no_update", "stopped")
    assert verdict.evidence["last_changed_update"] == 180
    assert "value_and_grad" in verdict.hint


def test_looks_after_no_update_are_no_evidence():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(180, False) for _ in range(5)]
    assert still_tail(looks)[1] == []
    assert classify(run(looks, FALLING)).kind == "pass"


def test_a_short_still_tail_is_not_enough():
    looks = [look(u, True) for u in range(50, 950, 50)] + [look(u, False)
                                                           for u in (960, 980)]
    assert len(still_tail(looks)[1]) < STILL_LOOKS
    assert classify(run(looks, FALLING)).kind == "pass"


def test_a_still_tail_under_a_quarter_of_the_updates_is_not_enough():
    looks = [look(u, True) for u in range(50, 1000, 50)] + [look(u, False)
                                                            for u in (1010, 1020, 1030)]
    assert classify(run(looks, FALLING)).kind == "pass"


def test_a_loss_at_its_floor_stands_the_rule_down():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    floor = [0.9, 0.4, 0.1, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert classify(run(looks, floor)).kind == "pass"


def test_a_deterministic_loss_at_a_fixed_point_is_converged_not_stopped():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    fixed = [0.72, 0.3, 0.011, 0.010886] + [0.010886] * 6  # full-batch descent, converged
    assert classify(run(looks, fixed)).kind == "pass"


def with_rates(rates: list[float]) -> list[dict]:
    return [{"kind": "progress", "source": "output", "step": 60 * (i + 1), "t": i + 1.0,
             "metrics": {"learning_rate": r}} for i, r in enumerate(rates)]


def test_a_printed_rate_at_0_before_the_stop_names_the_schedule_end():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    rates = [1e-3, 5e-4] + [0.0] * 8  # 0 from step 180, the last look that changed
    raw = RawResult(records=[*looks, *losses(FALLING), *with_rates(rates)], exit_code=0,
                    watched=True)
    verdict = classify(raw)
    assert verdict.label == "no_update:stopped"
    assert verdict.evidence["learning_rate_zero_from_step"] == 180
    assert "twice" in verdict.hint and "learning rate was 0 from step 180" in verdict.hint


def test_a_rate_that_reaches_0_after_the_stop_or_rises_again_is_not_the_cause():
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    late = [1e-3] * 8 + [0.0, 0.0]  # 0 only from step 540, after the stop at 180
    again = [1e-3, 0.0, 0.0, 5e-4] + [1e-3] * 6
    for rates in (late, again):
        raw = RawResult(records=[*looks, *losses(FALLING), *with_rates(rates)], exit_code=0,
                        watched=True)
        assert "value_and_grad" in classify(raw).hint


def test_no_loss_reported_after_the_last_change_is_no_evidence_of_a_missed_model():
    # fresh57 wifi_rssi_ap_survey (correct): a full-batch Adagrad fit, silent until its
    # summary, whose shrinking steps fell below float32's resolution
    looks = [look(u, True) for u in (60, 120, 180)] + [look(u, False)
                                                       for u in (300, 400, 500, 600)]
    assert classify(run(looks, [])).kind == "pass"
    assert classify(run(looks, FALLING[:3] + [0.0104])).kind == "pass"  # one loss after
