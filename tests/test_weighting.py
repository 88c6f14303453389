"""A loss judged after its own weighting stopped changing (`judging.weighting`): a printed
coefficient that ramped and then held is where a flat-looking total may start to fall; the
cut only ever takes a `not_learning` back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.judging import weighting
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# fresh21 `vae_mi_penalty_unbounded_ok`'s epochs, as printed: the total rises while beta
# warms up 0 -> 0.4, then falls every epoch with beta held
TOTAL = [2.584, 2.124, 2.458, 2.926, 3.238, 3.133, 3.105, 3.086, 3.058, 3.057]
BETA = [0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]


def run(losses: list[float], **metrics: list[float]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i + 1),
                "loss": x, "metrics": {k: v[i] for k, v in metrics.items()}}
               for i, x in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def stretched(values: list[float], times: int) -> list[float]:
    """Each epoch's value repeated with a small wobble: a batch-level curve."""
    return [v + 0.001 * (j % 2) for v in values for j in range(times)]


def test_a_total_that_rises_with_its_warm_up_and_falls_after_passes():
    raw = run(stretched(TOTAL, 3), beta=[b for b in BETA for _ in range(3)])
    verdict = classify(raw)
    assert verdict.kind == "pass", verdict.reason
    assert "`beta` held 0.4" in verdict.reason


def test_the_same_total_without_the_coefficient_is_still_not_learning():
    assert classify(run(stretched(TOTAL, 3))).label == "not_learning:trend"


def test_a_flat_loss_after_a_schedule_ends_at_a_floor_stays_not_learning():
    """A coefficient decayed to its floor (a learning rate cut to 0 too early) with a loss
    flat before and after: the cut takes nothing back."""
    flat = [1.0 + 0.001 * (i % 3) for i in range(30)]  # under a noisy level's scatter
    lr = [max(0.0, 1e-3 * (1 - i / 10)) for i in range(30)]
    assert classify(run(flat, lr=lr)).label == "not_learning:trend"


def test_a_coefficient_that_keeps_moving_or_toggles_never_cuts():
    assert weighting.ramped([(float(i), 0.1 * i) for i in range(10)]) is None
    assert weighting.ramped([(float(i), float(i % 2)) for i in range(10)]) is None
    assert weighting.ramped([(float(i), 0.5) for i in range(10)]) is None
    assert weighting.ramped([(float(i), v) for i, v in enumerate(BETA)]) == (0.4, 4.0)


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30))
def test_a_held_value_is_the_series_last_and_reached_at_its_first_time(values):
    found = weighting.ramped([(float(i), v) for i, v in enumerate(values)])
    if found is not None:
        assert found[0] == values[-1]
        assert values[int(found[1]):] == [values[-1]] * (len(values) - int(found[1]))
