"""Integration: plain-Python children under the real runner; verdict and no process left."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import psutil
import pytest
from conftest import child_spec

from mlxprobe.judging.verdict import matches
from mlxprobe.pipeline.outcome import execute


def assert_nothing_left(outcome) -> None:
    assert outcome.raw.survivors == []
    for rec in outcome.raw.of_kind("start"):
        assert not _running(rec["pid"])


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("variant", ["ok", "sleep", "spin", "abort", "grow", "raise_early",
                                     "flat_loss", "nan_loss", "zero_grad", "failed_check",
                                     "exit_quiet"])
def test_verdict_matches_expectation(variant: str) -> None:
    outcome = execute(child_spec(variant))
    assert matches(outcome.verdict, outcome.spec.expected), outcome.verdict
    assert outcome.verdict.reason
    assert_nothing_left(outcome)


def test_idle_hang_has_stacks_and_idle_cpu() -> None:
    outcome = execute(child_spec("sleep"))
    evidence = outcome.verdict.evidence
    assert evidence["cpu_cores_during_stall"] < 0.1
    assert evidence["last_step"] == 2
    assert "in sleep" in outcome.raw.python_stacks


def test_busy_hang_measures_cpu() -> None:
    """CPU is measured (its share depends on the machine's load: measured 0.30 cores at a
    load average of 10 on 2 cores), and the spinning thread is runnable throughout."""
    evidence = execute(child_spec("spin")).verdict.evidence
    assert evidence["cpu_cores_during_stall"] > 0.05
    assert evidence["runnable_share_during_stall"] > 0.8


def test_child_ignoring_sigterm_is_killed() -> None:
    started = time.monotonic()
    outcome = execute(child_spec("ignore_term", grace_s=0.5))
    assert outcome.verdict.kind == "hang"
    assert outcome.raw.signal == 9  # SIGTERM was ignored, SIGKILL ended it
    assert time.monotonic() - started < 30
    assert_nothing_left(outcome)


def test_grandchild_in_own_session_is_killed(tmp_path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    spec = child_spec("grandchild")
    spec = dataclasses.replace(spec, env=(("MLXPROBE_TEST_PIDFILE", str(pidfile)),))
    outcome = execute(spec)
    assert outcome.verdict.kind == "hang"
    grandchild = int(pidfile.read_text())
    assert not _running(grandchild)
    assert_nothing_left(outcome)


def test_crash_before_first_step_reports_the_exception() -> None:
    outcome = execute(child_spec("raise_early"))
    assert outcome.verdict.detail == "RuntimeError"
    assert "failed before the first step" in outcome.verdict.evidence["message"]


def test_leak_evidence_names_slope_and_thresholds() -> None:
    evidence = execute(child_spec("grow")).verdict.evidence
    assert 0.8 < evidence["rss_mb_per_step"] < 1.3  # the child keeps 1 MiB per step
    assert evidence["min_growth_mb"] > 0


def test_busy_child_starved_of_cpu_is_still_busy() -> None:
    """Six hogs share core 0 with the spinning child: its CPU share drops to ~0.15 cores,
    but its thread stays runnable, so the stall is cpu_busy, not a false cpu_idle."""
    hog = "import os; os.sched_setaffinity(0, {0})\nwhile True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", hog], start_new_session=True)  # own autogroup
            for _ in range(6)]
    try:
        outcome = execute(child_spec("pinned_spin"))
    finally:
        for proc in hogs:
            proc.kill()
            proc.wait()
    evidence = outcome.verdict.evidence
    assert outcome.verdict.label == "hang:cpu_busy", evidence
    assert evidence["cpu_cores_during_stall"] < 0.5
    assert evidence["runnable_share_during_stall"] > 0.8


def test_a_step_that_waits_for_a_core_is_not_a_hang() -> None:
    """Six hogs share core 0 with a healthy child whose steps need 0.3 s of CPU: each step
    takes over the 1 s step deadline in wall time, most of it waiting on the run queue
    (Linux schedstat), which does not count: it passes (a false hang under load before)."""
    hogs = _hogs_on_core_0(6)
    try:
        outcome = execute(child_spec("pinned_work"))
    finally:
        _stop(hogs)
    steps = [r["t"] for r in outcome.raw.steps]
    assert outcome.verdict.kind == "pass", outcome.verdict
    assert max(b - a for a, b in zip(steps, steps[1:])) > 1.0  # a wall-clock deadline missed
    assert_nothing_left(outcome)


def _hogs_on_core_0(n: int) -> list[subprocess.Popen]:
    hog = "import os; os.sched_setaffinity(0, {0})\nwhile True: pass"
    return [subprocess.Popen([sys.executable, "-c", hog], start_new_session=True)  # own
            for _ in range(n)]  # autogroup each: the child's share is 1/(n+1) of the core


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def test_compilation_is_not_a_hang(tmp_path) -> None:
    """A step spent in g++ (MLX's CPU backend, cold cache) outlasts the step deadline, yet the
    run passes, and the evidence says how long the compiler ran."""
    spec = child_spec("cold", module="compiled", step_floor_s=0.5)
    spec = dataclasses.replace(spec, env=(("TMPDIR", str(tmp_path)),))
    outcome = execute(spec)
    assert outcome.verdict.kind == "pass", outcome.verdict
    assert outcome.verdict.evidence["compiler_s"] > 0.5
    assert "compiler ran" in outcome.verdict.reason
    assert_nothing_left(outcome)
