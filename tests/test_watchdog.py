"""The watchdog policy is pure: deadlines from step times, compile time excluded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.watching.watchdog import Deadlines, current_deadline, overdue, step_deadline

D = Deadlines(startup_s=100.0, step_floor_s=1.5, step_factor=10.0, window=5, budget_s=500.0)


def test_floor_applies_to_fast_steps() -> None:
    assert step_deadline(D, [0.001, 0.002]) == 1.5


def test_factor_applies_to_slow_steps() -> None:
    assert step_deadline(D, [0.5, 0.3]) == pytest.approx(5.0)


def test_only_the_recent_window_counts() -> None:
    assert step_deadline(D, [9.0] + [0.01] * 5) == 1.5


def test_first_step_does_not_set_the_pace() -> None:
    assert current_deadline(D, 2, [30.0, 0.01], warming=True) == ("warmup", 1.5)


def test_startup_deadline_before_first_beat() -> None:
    assert current_deadline(D, 0, []) == ("startup", 100.0)
    assert overdue(D, 99.0, 0.0, None, 0, [], 0.0) is None
    assert overdue(D, 101.0, 0.0, None, 0, [], 0.0) == ("startup", 100.0)


def test_step_deadline_missed() -> None:
    assert overdue(D, 12.0, 0.0, 10.0, 3, [1.0, 0.01, 0.01], 0.0, warming=True) == \
        ("warmup", 1.5)
    assert overdue(D, 12.0, 0.0, 10.0, 3, [0.01, 0.01], 0.0) == ("step", 1.5)
    assert overdue(D, 11.0, 0.0, 10.0, 3, [0.01, 0.01], 0.0) is None


def test_compile_time_extends_the_deadline() -> None:
    assert overdue(D, 30.0, 0.0, 10.0, 3, [0.01, 0.01], compile_s=19.0) is None


def test_budget_caps_everything() -> None:
    assert overdue(D, 501.0, 0.0, 500.9, 3, [0.01] * 3, 0.0) == ("budget", 500.0)


@pytest.mark.parametrize("field", ["startup_s", "step_floor_s", "budget_s", "grace_s"])
def test_non_positive_settings_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Deadlines(**{field: 0.0})


@given(st.lists(st.floats(min_value=0, max_value=1e4), max_size=200))
def test_deadline_never_below_floor_nor_a_recent_step(times: list[float]) -> None:
    allowed = step_deadline(D, times)
    assert allowed >= D.step_floor_s
    assert all(allowed >= t for t in times[-D.window:])
