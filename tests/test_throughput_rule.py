"""`judging.throughput`: a printed iterations-per-second checked against the update rate the
watchdog measured, on the run shape of a timer never reset at a report and on correct ones
(a right rate, a validation pass left out of it, micro-batches counted as iterations)."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

RATE = 80.0  # updates a second
EVERY = 20  # updates between reports


def run(printed) -> RawResult:
    """600 updates at RATE with a report every EVERY; `printed(i, t)` is the report's it/sec
    (i: the report's number, t: its time)."""
    records = [{"kind": "step", "source": "update", "step": n, "t": n / RATE}
               for n in range(1, 601)]
    for i in range(1, 31):
        t = i * EVERY / RATE + 0.001
        records.append({"kind": "progress", "source": "output", "step": i * EVERY, "t": t,
                        "loss": 2.0 / i, "metrics": {"it/sec": printed(i, t)}})
    records.sort(key=lambda r: r["t"])
    return RawResult(records=records, exit_code=0, watched=True)


def never_reset(i: int, t: float) -> float:
    """The timer reset only every 15 reports (a validation): 20 steps over all the time
    since then."""
    since = (i - 1) // 15 * 15 * EVERY / RATE
    return EVERY / max(t - since, 0.01)


def test_a_rate_whose_timer_is_never_reset_at_a_report_is_wrong_result():
    v = classify(run(never_reset))
    assert v.label == "wrong_result:throughput"
    assert v.evidence["metric"] == "it/sec" and v.evidence["spread"] >= 10
    assert "perf_counter" in v.hint and "reset" in v.hint


def test_a_right_rate_a_steady_multiple_or_one_validation_gap_is_not_judged():
    assert classify(run(lambda i, t: RATE * (1.1 if i % 2 else 0.9))).kind == "pass"
    assert classify(run(lambda i, t: 4 * RATE)).kind == "pass"  # micro-batches counted
    assert classify(run(lambda i, t: 2.5 * RATE if i % 10 == 0 else RATE)).kind == "pass"


def test_a_timer_restarted_inside_the_window_is_named_as_such():
    """mlx-lm-lora's layout (fresh235 `ferryman_tally_ppo_ok`, fresh246
    `lantern_ballot_grpo_ok`): a validation at the start of every second report's iteration
    restarts the timer, so that report over-reports about EVERY-fold and the others are right.
    The number is wrong, and the hint says where: not at the report, after the validation."""
    v = classify(run(lambda i, t: EVERY * RATE if i % 2 == 0 else RATE))
    assert v.label == "wrong_result:throughput"
    assert "restarted inside a report window" in v.hint and "train_time" in v.hint
    assert "restarted" not in classify(run(never_reset)).hint
