"""classify() is pure: synthetic raw facts in, verdict with evidence out."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.judging.verdict import LEAK_MIN_MB, MB, MIN_DROP, classify, matches
from mlxprobe.watching.facts import RawResult, Sample, Stall


def steps(losses: list, t0: float = 1.0, dt: float = 0.01, **metrics) -> list[dict]:
    return [{"kind": "step", "step": i + 1, "t": t0 + i * dt, "step_s": dt, "loss": loss,
             "metrics": {k: v[i] for k, v in metrics.items()}}
            for i, loss in enumerate(losses)]


def raw(records: list[dict], rss_mb=lambda i: 100.0, n_samples: int | None = None,
        **kw) -> RawResult:
    beats = [r for r in records if r["kind"] == "step"]
    n = n_samples or len(beats)
    samples = [Sample(1.0 + i * 0.01, int(rss_mb(i) * MB), 0.01 * i, 1, False)
               for i in range(n)]
    return RawResult(records=records + [{"kind": "end"}], exit_code=0, samples=samples, **kw)


def falling(n: int = 100) -> list[float]:
    return [5.0 * math.exp(-i / 40) + 1.0 for i in range(n)]


def test_pass_with_learning_evidence() -> None:
    v = classify(raw(steps(falling())))
    assert v.kind == "pass"
    assert v.evidence["learning"]["drop"] > 0.5


def test_flat_loss_is_not_learning_with_threshold_in_evidence() -> None:
    v = classify(raw(steps([3.0 + 0.01 * (i % 2) for i in range(100)])))
    assert v.kind == "not_learning"
    assert v.evidence["min_drop"] == MIN_DROP


def test_learning_metric_is_taken_from_the_scenario() -> None:
    flat_train = [3.0] * 100
    v = classify(raw(steps(flat_train, val=falling())), {"learning_metric": "val"})
    assert v.kind == "pass"


def test_finishing_without_a_step_or_check_is_not_a_pass() -> None:
    v = classify(RawResult(records=[{"kind": "start"}, {"kind": "end"}], exit_code=0))
    assert v.label == "not_learning:no_steps"


def test_too_few_points_are_not_judged() -> None:
    assert classify(raw(steps([3.0] * 5))).kind == "pass"


def test_nan_loss_diverged() -> None:
    v = classify(raw(steps([2.0] * 10 + ["nan"] * 5)))
    assert v.label == "diverged:non_finite"
    assert v.evidence["first_non_finite_step"] == 11


def test_a_nan_the_program_skipped_is_not_a_divergence() -> None:
    # nan-unchecked's fixed loop prints the one bad batch's NaN, skips it, and learns on
    skipped = falling(39) + ["nan"] + falling(110)
    v = classify(raw(steps(skipped)))
    assert v.kind == "pass", v.reason


def test_a_nan_loss_names_the_programs_own_step() -> None:
    records = steps([2.0] * 10 + ["nan"] * 5)
    for record in records:
        record["step"] *= 5  # the program reports every 5th step
    v = classify(raw(records))
    assert "at step 55 " in v.reason and v.evidence["first_non_finite_report"] == 11


def test_exploding_loss_diverged() -> None:
    v = classify(raw(steps([2.0] * 50 + [50.0] * 50)))
    assert v.label == "diverged:exploding"


def test_a_blow_up_before_the_second_report_is_measured_from_the_first() -> None:
    # fresh38 ssm_overfit_lr_blowup: 1.36, then 2.8e17 and 1e14-4e15 to the end
    blown = [1.36, 2.77e17, 2.17e15, 5.68e13, 4.24e15, 1e15, 4.98e14, 3e14, 2.27e14, 2e14,
             1.8e14, 1.7e14, 1.65e14]
    v = classify(raw(steps(blown)))
    assert v.label == "diverged:exploding" and v.evidence["loss_first"] == 1.36
    high_start = [1e-3, 5.0, 4.0, 3.0, 2.5, 2.0, 1.8, 1.7, 1.6, 1.5, 1.45, 1.4, 1.38]
    assert classify(raw(steps(high_start))).kind != "diverged"  # 5000x, not 1e6x


def test_loss_spike_that_settles_is_diverged() -> None:
    dead = [5.5] * 30 + [1e8] + [5.545] * 69  # blow-up, then the "dead" ln(256) state
    v = classify(raw(steps(dead)))
    assert v.label == "diverged:spike" and v.evidence["loss_max"] == 1e8


def test_high_start_that_falls_is_not_a_spike() -> None:
    assert classify(raw(steps([1e6] + [400.0 / (1 + i) for i in range(99)]))).kind == "pass"


def test_passed_checks_show_in_any_verdict() -> None:
    check = {"kind": "check", "name": "count", "ok": True, "evidence": {"params": 0}}
    v = classify(raw(steps([2.0] * 10 + ["nan"] * 5) + [check]))
    assert v.kind == "diverged" and v.evidence["checks_passed"] == {"count": {"params": 0}}


def test_zero_gradients_no_update() -> None:
    v = classify(raw(steps(falling(20), grad_norm=[0.0] * 20)))
    assert v.label == "no_update:grad_norm"


def test_some_nonzero_gradient_is_an_update() -> None:
    assert classify(raw(steps(falling(20), grad_norm=[0.0] * 19 + [1e-9]))).kind == "pass"


def test_failed_check_is_wrong_result() -> None:
    check = {"kind": "check", "name": "sum", "ok": False, "hint": "h", "evidence": {"got": 1}}
    v = classify(raw(steps(falling()) + [check]))
    assert v.label == "wrong_result:sum" and v.hint == "h"
    assert v.evidence["failed_checks"]["sum"] == {"got": 1}


def test_linear_rss_growth_is_a_leak() -> None:
    v = classify(raw(steps(falling(200)), rss_mb=lambda i: 100 + 0.5 * i))
    assert v.kind == "leak"
    assert v.evidence["rss_mb_per_step"] == pytest.approx(0.5, rel=0.05)


def test_small_growth_under_the_floor_is_not_a_leak() -> None:
    growth = (LEAK_MIN_MB / 2) / 200
    assert classify(raw(steps(falling(200)), rss_mb=lambda i: 100 + growth * i)).kind == "pass"


def test_warmup_plateau_is_not_a_leak() -> None:
    v = classify(raw(steps(falling(200)), rss_mb=lambda i: 100 + min(i, 60) * 1.0))
    assert v.kind == "pass"


@given(st.integers(0, 2**31 - 1))
def test_noisy_flat_rss_is_never_a_leak(seed: int) -> None:
    rng = random.Random(seed)
    noise = [100 + rng.uniform(-4, 4) for _ in range(200)]
    assert classify(raw(steps(falling(200)), rss_mb=lambda i: noise[i])).kind == "pass"


def test_exception_is_a_crash_with_message() -> None:
    error = {"kind": "error", "type": "ValueError", "message": "conv channels mismatch"}
    r = RawResult(records=[error], exit_code=1)
    v = classify(r)
    assert v.label == "crash:ValueError" and "Conv1d" in v.hint


def test_signal_crash() -> None:
    assert classify(RawResult(signal=11)).label == "crash:SIGSEGV"


def test_memory_kill_is_oom() -> None:
    v = classify(RawResult(signal=9, memory_limit_mb=100.0,
                           samples=[Sample(0, 200 * MB, 0, 1, False)]))
    assert v.label == "crash:oom" and v.evidence["peak_rss_mb"] == 200.0


def test_exit_zero_without_end_record() -> None:
    assert classify(RawResult(exit_code=0)).label == "crash:no_end_record"


def test_busy_stall_with_growing_memory_names_the_missing_eval() -> None:
    stall = Stall("step", 1.5, 1.6, 0.95, 1.0, 0.0, 100)
    r = raw(steps([{"unrecorded": "array"}] * 100), rss_mb=lambda i: 50 + 0.4 * i, stall=stall)
    r.exit_code, r.signal = None, 15
    v = classify(r)
    assert v.label == "hang:cpu_busy"
    assert "mx.eval(loss, model.parameters(), optimizer.state)" in v.hint
    assert v.evidence["rss_mb_per_step_before"] == pytest.approx(0.4, rel=0.05)


def test_starved_but_runnable_stall_is_busy() -> None:
    v = classify(RawResult(stall=Stall("step", 1.5, 1.6, 0.3, 0.9, 0.0, 3), signal=15))
    assert v.label == "hang:cpu_busy"
    assert v.evidence["runnable_share_during_stall"] == 0.9


def test_idle_stall() -> None:
    v = classify(RawResult(stall=Stall("step", 1.5, 1.6, 0.01, 0.0, 0.0, 3), signal=15))
    assert v.label == "hang:cpu_idle" and "all_sum" in v.hint


def test_malformed_records_are_named_in_the_reason() -> None:
    r = raw(steps(falling()))
    r.malformed = 3
    v = classify(r)
    assert v.evidence["malformed_records"] == 3 and "malformed" in v.reason


def test_expectation_matching() -> None:
    v = classify(RawResult(stall=Stall("step", 1.5, 1.6, 0.9, 1.0, 0.0, 3), signal=15))
    assert matches(v, "hang") and matches(v, "hang:cpu_busy")
    assert not matches(v, "hang:cpu_idle") and not matches(v, "pass")
