"""Faults of the child under the real runner: the verdict, its evidence, and nothing left behind.

Each test marks the child's environment and, after the run, scans every process on the
machine for the mark (see leftovers.py), so a grandchild the harness lost is caught even when
the harness's own bookkeeping says all is well. The faults already covered in test_runner.py
(abort, raise before the first heartbeat, exit 0 without an end record, SIGTERM ignored, a
sleeping grandchild in its own session) are not repeated here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import child_spec
from hypothesis import given, settings
from hypothesis import strategies as st
from leftovers import kill_marked, left_after, marked, new_mark, pids_in, running

from mlxprobe.judging.verdict import matches
from mlxprobe.pipeline import matrix
from mlxprobe.pipeline.outcome import Outcome, execute
from mlxprobe.watching import watchdog
from mlxprobe.watching.records import MAX_LINE_BYTES
from mlxprobe.watching.runner import TAIL_BYTES, Watch
from mlxprobe.watching.watchdog import Deadlines


@pytest.fixture
def mark() -> Iterator[str]:
    value = new_mark()
    yield value
    kill_marked(value)


def run_fault(variant: str, mark: str, tmp_path: Path, **options) -> Outcome:  # noqa: ANN003
    """Run one faults.py variant with short deadlines; checks its verdict and that no process
    of the run (child, grandchildren, processes that left the session) is left."""
    memory = options.pop("max_memory_mb", None)
    spec = child_spec(variant, module="faults", **options)
    spec = marked(spec, mark, tmp_path / "pids")
    if memory is not None:
        spec = dataclasses.replace(spec, max_memory_mb=memory)
    outcome = execute(spec)
    assert matches(outcome.verdict, spec.expected), (outcome.verdict, outcome.raw.stderr_tail)
    assert outcome.raw.survivors == []
    assert left_after(mark) == []
    for pid in pids_in(tmp_path / "pids"):
        assert not running(pid), f"grandchild {pid} outlived the run"
    return outcome


def test_child_that_sigkills_itself(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("kill_self", mark, tmp_path)
    assert outcome.raw.signal == 9 and outcome.verdict.evidence["signal"] == 9
    assert "SIGKILL" in outcome.verdict.hint


def test_segfault_is_a_crash_with_the_native_stack(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("segfault", mark, tmp_path)
    tail = outcome.verdict.evidence["stderr_tail"]
    assert "Segmentation fault" in tail and "segfault" in tail  # faulthandler names the frame


def test_child_killed_by_a_thread_exit_code(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("exit_in_thread", mark, tmp_path)
    assert outcome.verdict.evidence["exit_code"] == 3


def test_hanging_grandchildren_in_the_group_are_ended(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("fork_hang", mark, tmp_path)
    assert len(pids_in(tmp_path / "pids")) == 2
    assert outcome.verdict.evidence["last_step"] == 2


@pytest.mark.parametrize("variant", ["orphan_setsid", "orphan_daemon"])
def test_grandchild_left_in_its_own_session_after_a_clean_end(variant: str, mark: str,
                                                              tmp_path: Path) -> None:
    """The child finishes at once; its grandchild escaped the group (and, double-forked, the
    tree) before the sampler could see it: the run still ends it."""
    started = time.monotonic()
    run_fault(variant, mark, tmp_path)
    assert len(pids_in(tmp_path / "pids")) == 1
    assert time.monotonic() - started < 30  # the tail readers did not wait on its pipes


def test_grandchild_ignoring_sigterm_in_its_own_session(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("stubborn_grandchild", mark, tmp_path, grace_s=0.3)
    assert outcome.verdict.kind == "hang"


def test_flood_of_stdout_and_stderr_keeps_heartbeats_and_the_tail(mark: str,
                                                                  tmp_path: Path) -> None:
    outcome = run_fault("flood", mark, tmp_path)
    assert len(outcome.raw.steps) == 40
    assert outcome.raw.stderr_tail.rstrip().endswith("flood-end-marker")
    assert len(outcome.raw.stderr_tail) <= TAIL_BYTES
    assert len(outcome.raw.stdout_tail) == TAIL_BYTES  # a full tail kept, the rest dropped


def test_garbage_on_the_record_pipe_is_counted_and_named(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("garbage_records", mark, tmp_path)
    assert 3 * 1024 * 1024 > MAX_LINE_BYTES  # the child's long line is over the limit
    assert len(outcome.raw.steps) == 19  # the partial line swallowed the next record
    evidence = outcome.verdict.evidence
    assert evidence["malformed_records"] == 6
    assert "6 malformed record line(s) ignored" in outcome.verdict.reason


def test_records_with_wrong_field_types_are_malformed(mark: str, tmp_path: Path) -> None:
    """JSON records whose fields have the wrong types never reach the verdict's arithmetic."""
    outcome = run_fault("bad_fields", mark, tmp_path)
    assert outcome.verdict.evidence["last_step"] == 2
    assert outcome.verdict.evidence["malformed_records"] == 6
    assert outcome.entry["metrics"]["steps"] == 2


def test_closed_record_pipe_is_a_hang(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("close_records", mark, tmp_path)
    assert outcome.verdict.evidence["last_step"] == 2


@pytest.mark.parametrize("variant", ["hog_slow", "hog_fast"])
def test_memory_limit_kills_with_oom_evidence(variant: str, mark: str, tmp_path: Path) -> None:
    parent = psutil.Process()
    before = parent.memory_info().rss
    outcome = run_fault(variant, mark, tmp_path, max_memory_mb=300)
    evidence = outcome.verdict.evidence
    assert evidence["limit_mb"] == 300 and evidence["peak_rss_mb"] > 300
    assert outcome.raw.signal == 9  # killed at once, not given a grace period to grow on
    assert evidence["peak_rss_mb"] < 3 * 1024  # stopped before it had all it wanted
    assert parent.memory_info().rss - before < 64 * 1024 * 1024  # the parent stays small


def test_tens_of_thousands_of_heartbeats(mark: str, tmp_path: Path) -> None:
    outcome = run_fault("fast_steps", mark, tmp_path)
    # past 20,000 steps the kept series is thinned (bounded parent memory): the count is exact
    assert outcome.raw.step_count > 5000 and len(outcome.raw.steps) <= outcome.raw.step_count
    assert outcome.raw.malformed == 0


def test_killing_the_parent_takes_its_children_along(mark: str, tmp_path: Path) -> None:
    """SIGKILL to the process running the harness (nothing can clean up): the child notices
    its lifeline closed and ends its own process group."""
    code = ("import sys, dataclasses; sys.path.insert(0, sys.argv[1])\n"
            "from conftest import child_spec\nfrom leftovers import marked\n"
            "from mlxprobe.pipeline.outcome import execute\n"
            "execute(marked(child_spec('fork_hang', module='faults', step_floor_s=600.0), "
            "sys.argv[2], __import__('pathlib').Path(sys.argv[3])))\n")
    pidfile = tmp_path / "pids"
    parent = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), mark,
                               str(pidfile)], env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        _wait_for(lambda: len(pids_in(pidfile)) == 2, 30)
        assert left_after(mark) != []  # child and two grandchildren are running
        parent.kill()
        parent.wait()
        assert left_after(mark, wait_s=10) == []
    finally:
        parent.kill()
        parent.wait()


def _wait_for(condition, timeout_s: float) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_no_fd_leak_across_runs(mark: str, tmp_path: Path) -> None:
    """Pipes and temp files of a run are closed when it returns, whatever the child did."""
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for variant in ("kill_self", "orphan_setsid", "close_records"):
        run_fault(variant, mark, tmp_path)
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0001, 5.0), max_size=120), st.integers(1, 60))
def test_watchdog_sees_the_same_deadline_from_the_recent_window(gaps: list[float],
                                                                 window: int) -> None:
    """The runner hands the watchdog only the recent intervals (a fast child must not cost
    O(steps) per tick): the deadline is the same as from all of them."""
    watch = Watch(started=100.0)
    t = 100.0
    for gap in gaps:
        t += gap
        watch.add({"kind": "step", "t": t})
    d = Deadlines(window=window, step_floor_s=0.01)
    full = watchdog.current_deadline(d, len(watch.beats), watch.intervals())
    recent = watchdog.current_deadline(d, len(watch.beats), watch.intervals(window + 1))
    assert recent == full


def test_stop_event_ends_the_matrix_with_the_finished_runs(mark: str, tmp_path: Path) -> None:
    """What a Ctrl-C handler does in the CLI: set `stop` from elsewhere, never raise."""
    specs = [marked(child_spec(v), mark) for v in ("ok", "forever", "forever", "forever")]
    stop = threading.Event()
    done: list[str] = []

    def on_done(outcome: Outcome) -> None:
        done.append(outcome.spec.variant)
        threading.Timer(0.5, stop.set).start()  # the endless ones run by then

    with pytest.raises(matrix.Interrupted) as caught:
        matrix.run_all(specs, jobs=2, on_done=on_done, stop=stop)
    assert [o.spec.variant for o in caught.value.finished] == ["ok"] == done
    assert left_after(mark) == []
