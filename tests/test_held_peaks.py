"""`judging/held_peaks.py`: RSS in a saw-tooth whose peaks held is bounded memory, not a leak,
however the samples' fit rose; peaks that rise, or MLX's active memory that grew, stay a leak
(stop 98: fresh389 `microfilm_grain_ramp`, correct: teeth of ~33 MB from a test pass every 15
steps, the samples' fit +18.75 MB in one run and +14.3 MB in another, its peaks flat).

Cost: < 1 s (facts in memory, no process).
"""

from __future__ import annotations

from test_grown_work import _run

from mlxprobe.judging import held_peaks, memory_shape
from mlxprobe.judging.verdict import classify

STEPS = 1100
PERIOD = 15  # steps between test passes: each builds a transient that is then freed


def toothed(trough_rise: float, peak_rise: float):
    """RSS (MB) at a step: a tooth every PERIOD steps from a trough to a peak, the troughs
    rising by `trough_rise` and the peaks by `peak_rise` over the run."""
    def rss(step: int) -> float:
        share = step / STEPS
        low, high = 90 + trough_rise * share, 160 + peak_rise * share
        return low + (high - low) * ((step % PERIOD) / (PERIOD - 1))
    return rss


def test_a_saw_tooth_whose_peaks_held_is_no_leak_though_its_fit_rose():
    raw = _run(toothed(40.0, 0.0), peak_mb=lambda s: 30.0, active_mb=0.8)
    verdict = classify(raw)
    assert verdict.kind == "pass", verdict.reason
    view = verdict.evidence["memory_views"]["rss"]
    assert view["growth_mb"] >= 16 and view["held_peaks"]["peak_rise_mb"] < 8


def test_peaks_that_rise_with_the_troughs_stay_a_leak():
    raw = _run(toothed(40.0, 40.0), peak_mb=lambda s: 30.0, active_mb=0.8)
    assert classify(raw).label == "leak:rss"


def test_active_memory_that_grew_is_never_excused_by_the_peaks():
    points = [(0.03 * i, toothed(40.0, 0.0)(max(1, 3 * i))) for i in range(STEPS // 3 + 1)]
    assert held_peaks.held(points, active_grew=False) is not None
    assert held_peaks.held(points, active_grew=True) is None
    assert held_peaks.held(points, active_grew=None) is None


def test_a_climb_with_no_teeth_has_no_peaks_to_read():
    assert memory_shape.tooth_peaks([(float(i), 100 + 0.1 * i) for i in range(400)]) is None
