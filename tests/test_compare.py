"""The pure comparison of two reports: verdict changes first, then metrics with noise guards."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.errors import UsageError
from mlxprobe.gating import comparison
from mlxprobe.gating.comparison import DEFAULT_THRESHOLDS, compare
from mlxprobe.reporters import changes, junit, markdown
from mlxprobe.results import report

ENV = {"mlx_version": "0.32.4", "device": "Device(cpu, 0)", "python": "3.11.7"}


def run(scenario: str = "s", variant: str = "fixed", expected: str = "pass",
        verdict: str = "pass", detail: str = "", repeat: int = 0, **metrics: float) -> dict:
    kind, _, expected_detail = expected.partition(":")
    matched = verdict == kind and (not expected_detail or detail == expected_detail)
    values = {"step_ms_median": 10.0, "peak_rss_mb": 200.0, "rss_mb_per_step": 0.0,
              "loss_final": 2.0, **metrics}
    return {"scenario": scenario, "variant": variant, "repeat": repeat, "expected": expected,
            "verdict": verdict, "detail": detail, "matched": matched,
            "reason": f"{verdict} because", "metrics": values, "environment": dict(ENV)}


def rep(*runs: dict, mlx: str = "0.32.4") -> dict:
    entries = [{**r, "environment": {**r["environment"], "mlx_version": mlx}} for r in runs]
    return report.build(entries)


def kinds(result: comparison.Comparison) -> dict[tuple[str, str], str]:
    return {(c.scenario, c.variant): c.kind for c in result.changes}


def test_pass_to_anything_else_is_newly_failing() -> None:
    result = compare(rep(run()), rep(run(verdict="hang", detail="cpu_busy")))
    assert kinds(result) == {("s", "fixed"): "newly failing"} and result.failed
    assert "was pass, now hang:cpu_busy" in changes.render(result)


def test_broken_variant_that_stops_reproducing_lost_its_eyes() -> None:
    base = rep(run(variant="broken", expected="hang:cpu_busy", verdict="hang", detail="cpu_busy"))
    for head_verdict, detail in (("pass", ""), ("hang", "cpu_idle"), ("crash", "")):
        head = rep(run(variant="broken", expected="hang:cpu_busy", verdict=head_verdict,
                       detail=detail))
        result = compare(base, head)
        assert kinds(result) == {("s", "broken"): "lost its eyes"} and result.failed


def test_newly_fixed_and_reproducing_again_are_good_news() -> None:
    base = rep(run(verdict="leak"), run(variant="broken", expected="leak", verdict="pass"))
    head = rep(run(), run(variant="broken", expected="leak", verdict="leak"))
    result = compare(base, head)
    assert kinds(result) == {("s", "fixed"): "newly fixed", ("s", "broken"): "reproduces again"}
    assert not result.failed
    assert "good news: 1 newly fixed, 1 reproduces again" in changes.headline(result)


def test_failing_in_both_same_way_is_not_a_regression_but_differently_is() -> None:
    known = rep(run(verdict="leak"), run(variant="ok"))  # one run matched: the loop runs
    assert not compare(known, known).failed
    result = compare(rep(run(verdict="leak")), rep(run(verdict="crash")))
    assert kinds(result) == {("s", "fixed"): "changed"} and result.failed


def test_one_failing_repeat_of_three_fails() -> None:
    base = rep(*(run(repeat=r) for r in range(3)))
    head = rep(run(repeat=0), run(repeat=1, verdict="hang", detail="cpu_idle"), run(repeat=2))
    result = compare(base, head)
    assert result.failed and result.changes[0].head == "pass (2/3), hang:cpu_idle (1/3)"


def test_missing_variants_fail_unless_allowed_and_new_ones_never_do() -> None:
    base, head = rep(run(variant="a"), run(variant="b")), rep(run(variant="a"), run(variant="c"))
    result = compare(base, head)
    assert kinds(result) == {("s", "a"): "same", ("s", "b"): "missing", ("s", "c"): "new"}
    assert result.failed and changes.headline(result).startswith("FAIL: 1 missing")
    allowed = compare(base, head, allow_missing=True)
    assert kinds(allowed)[("s", "b")] == "left out" and not allowed.failed


def test_reports_without_a_common_variant_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="share no scenario variant"):
        compare(rep(run(scenario="x")), rep(run(scenario="y")))
    with pytest.raises(UsageError, match="HEAD report holds no runs"):
        compare(rep(run()), rep())


def repeated(n: int, **metrics: list[float]) -> dict:
    runs = [run(repeat=r, **{k: v[r] for k, v in metrics.items()}) for r in range(n)]
    return rep(*runs)


def test_confirmed_slowdown_is_worse_and_fails() -> None:
    result = compare(repeated(3, step_ms_median=[10.0, 10.3, 9.8]),
                     repeated(3, step_ms_median=[20.1, 19.7, 20.4]))
    change = result.changes[0]
    assert change.kind == "worse" and result.failed
    step = next(m for m in change.metrics if m.name == "step_ms")
    assert step.p == pytest.approx(0.05) and step.ratio == pytest.approx(20.1 / 10.0)


def test_single_runs_cannot_confirm_a_slowdown() -> None:
    result = compare(repeated(1, step_ms_median=[10.0]), repeated(1, step_ms_median=[30.0]))
    assert kinds(result) == {("s", "fixed"): "worse?"} and not result.failed
    assert "too few runs" in changes.render(result)


def test_loss_regressions_fail_on_thresholds_alone() -> None:
    result = compare(repeated(1, loss_final=[2.0]), repeated(1, loss_final=[2.5]))
    assert result.failed


def test_memory_regressions_need_the_rank_test_as_step_time_does() -> None:
    """issue 13: one noisy run a side is `worse?`, never a failure (test_peak_memory.py)."""
    for metric, good, bad in (("peak_rss_mb", 200.0, 300.0), ("rss_mb_per_step", 0.0, 0.3)):
        one = compare(repeated(1, **{metric: [good]}), repeated(1, **{metric: [bad]}))
        assert kinds(one) == {("s", "fixed"): "worse?"} and not one.failed, metric
        three = compare(repeated(3, **{metric: [good] * 3}), repeated(3, **{metric: [bad] * 3}))
        assert three.failed, metric


def test_changes_under_the_noise_floor_do_not_count() -> None:
    # +100% but only 0.2 ms (floor 0.5), +50% but only 20 MB (floor 32)
    result = compare(repeated(3, step_ms_median=[0.2, 0.2, 0.2], peak_rss_mb=[40, 40, 40]),
                     repeated(3, step_ms_median=[0.4, 0.4, 0.4], peak_rss_mb=[60, 60, 60]))
    assert kinds(result) == {("s", "fixed"): "same"}


def test_faster_is_better_not_a_failure() -> None:
    result = compare(repeated(3, step_ms_median=[20.0, 21.0, 22.0]),
                     repeated(3, step_ms_median=[10.0, 10.5, 11.0]))
    assert kinds(result) == {("s", "fixed"): "better"} and not result.failed


def test_metrics_are_not_compared_for_variants_that_do_not_pass() -> None:
    base = rep(run(variant="broken", expected="leak", verdict="leak", peak_rss_mb=100.0))
    head = rep(run(variant="broken", expected="leak", verdict="leak", peak_rss_mb=900.0))
    assert compare(base, head).changes[0].metrics == ()


noise = st.floats(10.0, 11.0, allow_nan=False)  # 10% run-to-run swing


@settings(max_examples=80, deadline=None)
@given(st.lists(noise, min_size=3, max_size=7), st.lists(noise, min_size=3, max_size=7),
       st.floats(0.0, 1000.0), st.data())
def test_one_noisy_run_never_fails_a_build(base: list[float], head: list[float],
                                           outlier: float, data: st.DataObject) -> None:
    head = list(head)
    head[data.draw(st.integers(0, len(head) - 1))] = outlier
    result = compare(repeated(len(base), step_ms_median=base),
                     repeated(len(head), step_ms_median=head))
    assert not result.failed


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.1, 1e4, allow_nan=False), min_size=1, max_size=5),
       st.sampled_from(["step_ms_median", "peak_rss_mb", "rss_mb_per_step", "loss_final"]))
def test_a_report_compared_with_itself_is_clean(values: list[float], metric: str) -> None:
    same = repeated(len(values), **{metric: values})
    result = compare(same, same)
    assert not result.failed and {c.kind for c in result.changes} == {"same"}


@settings(max_examples=50, deadline=None)
@given(st.floats(100.0, 500.0), st.floats(1.0, 4.0))
def test_worse_one_way_is_better_the_other(peak: float, factor: float) -> None:
    low, high = (repeated(3, peak_rss_mb=[peak] * 3),
                 repeated(3, peak_rss_mb=[peak * factor] * 3))
    forward = {m.state for m in compare(low, high).changes[0].metrics if m.name == "peak_mb"}
    backward = {m.state for m in compare(high, low).changes[0].metrics if m.name == "peak_mb"}
    assert (forward, backward) in (({"worse"}, {"better"}), ({"same"}, {"same"}))


def test_parse_threshold() -> None:
    name, t = comparison.parse_threshold("step_ms=1.5:2", DEFAULT_THRESHOLDS)
    assert (name, t.ratio, t.floor, t.ranked) == ("step_ms", 1.5, 2.0, True)
    assert comparison.parse_threshold("loss=1.2", DEFAULT_THRESHOLDS)[1].floor == 0.05
    for bad in ("nope=2", "step_ms=x", "step_ms=0.5", "peak_mb=2:-1"):
        with pytest.raises(UsageError):
            comparison.parse_threshold(bad, DEFAULT_THRESHOLDS)


def test_host_difference_is_warned_and_partial_report_fails() -> None:
    base, head = rep(run()), rep(run())
    head["fingerprint"] = {**head["fingerprint"], "machine": "arm64"}
    head["complete"] = False
    result = compare(base, head)
    assert "machine x86_64 -> arm64" in " ".join(result.warnings)
    assert result.failed and "HEAD report is partial" in result.problems[0]


def test_reports_from_before_the_fingerprint_still_compare() -> None:
    old = rep(run())
    del old["fingerprint"]
    result = compare(old, rep(run()))
    assert result.base_fingerprint["name"] == "linux-x86_64-cpu" and not result.warnings


def test_markdown_and_junit_say_the_same_thing() -> None:
    base = rep(run(variant="a"), run(variant="b"), *(run(variant="c", repeat=r) for r in range(3)))
    head = rep(run(variant="a", verdict="crash"), run(variant="b"),
               *(run(variant="c", repeat=r, step_ms_median=30.0 + r) for r in range(3)))
    result = compare(base, head)
    md, xml = markdown.render(result), junit.render(result)
    assert md.startswith("## mlxprobe compare: FAIL: 1 newly failing, 1 worse")
    assert "| ❌ | **newly failing** | `s` | a |" in md and "🔺" in md
    assert 'tests="3" failures="2"' in xml and "was pass, now crash" in xml
