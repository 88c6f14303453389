"""Each run's metrics split its wall time: child start-up, the scenario's set-up, the loop."""

from __future__ import annotations

import pytest
from conftest import child_spec

from mlxprobe.pipeline import outcome
from mlxprobe.results import report
from mlxprobe.watching.facts import RawResult


def test_phases_from_arrival_times_and_step_durations():
    raw = RawResult(started=100.0, records=[
        {"kind": "start", "t": 100.3},
        {"kind": "step", "step": 1, "step_s": 0.2, "t": 101.0},
        {"kind": "step", "step": 2, "step_s": 0.1, "t": 101.1},
        {"kind": "end", "t": 101.2}])
    assert report.phases(raw) == {"startup_s": 0.3, "setup_s": 0.5, "loop_s": 0.3}


def test_phases_of_a_run_without_steps_or_start_record():
    assert report.phases(RawResult(started=5.0)) == {"startup_s": None, "setup_s": None,
                                                     "loop_s": 0.0}
    started_only = RawResult(started=5.0, records=[{"kind": "start", "t": 5.25}])
    assert report.phases(started_only) == {"startup_s": 0.25, "setup_s": None, "loop_s": 0.0}


def test_phases_of_a_real_run_fit_in_its_wall_time():
    done = outcome.execute(child_spec("ok"))
    metrics = done.entry["metrics"]
    parts = [metrics["startup_s"], metrics["setup_s"], metrics["loop_s"]]
    assert all(p is not None and p >= 0 for p in parts)
    assert metrics["loop_s"] >= 50 * 0.005  # 50 steps of a 5 ms sleep
    assert sum(parts) <= metrics["wall_s"] + 0.01
    assert metrics["loop_s"] == pytest.approx(
        sum(r["step_s"] for r in done.raw.steps), abs=0.002)
