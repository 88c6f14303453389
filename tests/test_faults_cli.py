"""Faults around `mlxprobe run` itself: Ctrl-C, SIGTERM, a second Ctrl-C, SIGKILL.

Each test starts the CLI with subprocess.Popen (a job started with `&` from a non-interactive
shell has SIGINT ignored), on a folder of plain-Python variants: two quick ones that pass and
three that heartbeat forever. With --jobs 2 the quick ones finish first, then two endless
ones run. The signal goes in then; every process of the run must be gone once the CLI has
exited (every process carries the test's marker, see leftovers.py), and the partial report
holds exactly the runs that finished.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from leftovers import carrying, kill_marked, left_after, marked_env, new_mark

from mlxprobe.results import report

MODULE = '''
import time

SCENARIO = {"id": "endless", "title": "two quick variants, three endless ones",
            "variants": {"quick_a": "pass", "quick_b": "pass", "forever_a": "hang",
                         "forever_b": "hang", "forever_c": "hang"}}


def _quick(probe):
    for i in range(20):
        probe.step(loss=10.0 - 0.3 * i)


quick_a = quick_b = _quick


def _forever(probe):
    while True:
        time.sleep(0.02)
        probe.step(loss=1.0)


forever_a = forever_b = forever_c = _forever
'''
EXIT_TIMEOUT_S = 30  # a guard against a hung CLI, not a speed target (see benchmarks/)


@pytest.fixture
def mark() -> Iterator[str]:
    value = new_mark()
    yield value
    kill_marked(value)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "endless.py").write_text(MODULE)
    return scenarios


def start_cli(folder: Path, out: Path, mark: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlxprobe.cli", "run", "--scenarios", str(folder), "--all",
         "--jobs", "2", "--json", str(out), "--step-floor", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=marked_env(mark, out.parent))


def endless_children(mark: str) -> list[int]:
    """Marked child processes running an endless variant."""
    found = []
    for pid in carrying(mark):
        try:
            argv = psutil.Process(pid).cmdline()
            if "mlxprobe.inside.child" in argv and any(a.startswith("forever_") for a in argv):
                found.append(pid)
        except psutil.Error:
            continue
    return found


def wait_for_two_endless(cli: subprocess.Popen, mark: str) -> None:
    end = time.monotonic() + EXIT_TIMEOUT_S
    while len(endless_children(mark)) < 2:
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < end, "the endless variants never started"
        time.sleep(0.05)
    time.sleep(0.3)  # they are heartbeating


def finish(cli: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = cli.communicate(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        cli.kill()
        out, err = cli.communicate()
        pytest.fail(f"the CLI did not exit after the signal:\n{err}")
    return cli.returncode, out, err


def assert_partial_report(path: Path, output: str = "") -> None:
    data = report.load(path)
    assert data["complete"] is False
    assert sorted(r["variant"] for r in data["runs"]) == ["quick_a", "quick_b"], output
    assert all(r["verdict"] == "pass" and r["matched"] for r in data["runs"]), output
    assert sorted(m["variant"] for m in data["missing"]) == ["forever_a", "forever_b",
                                                            "forever_c"], output
    assert data["stopped"].startswith("interrupted"), output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_every_child_and_writes_a_partial_report(signum: int, folder: Path,
                                                             tmp_path: Path,
                                                             mark: str) -> None:
    out = tmp_path / "partial.json"
    cli = start_cli(folder, out, mark)
    wait_for_two_endless(cli, mark)
    cli.send_signal(signum)
    code, stdout, stderr = finish(cli)
    assert code == 130, stderr
    assert left_after(mark) == [], stderr  # nothing outlives the CLI, not even for a moment
    assert "Traceback" not in stderr, stderr
    assert "interrupted after 2 of 5 runs" in stderr
    assert_partial_report(out, stdout + stderr)
    assert report.load(out)["stopped"] == f"interrupted by {signal.Signals(signum).name}"
    assert "2/2 verdicts matched" in stdout or "quick_a" in stdout
    # the runs the signal ended: `interrupted` with what their processes were doing
    stopped = report.load(out)["interrupted_runs"]
    assert sorted(r["variant"] for r in stopped) == ["forever_a", "forever_b"], stdout
    name = signal.Signals(signum).name
    assert {(r["verdict"], r["detail"]) for r in stopped} == {("interrupted", name)}
    assert all(r["evidence"]["processes"] for r in stopped), stopped


def test_second_ctrl_c_during_cleanup_changes_nothing(folder: Path, tmp_path: Path,
                                                      mark: str) -> None:
    """An impatient user presses Ctrl-C again while the children are being ended."""
    out = tmp_path / "partial.json"
    cli = start_cli(folder, out, mark)
    wait_for_two_endless(cli, mark)
    cli.send_signal(signal.SIGINT)
    time.sleep(0.05)
    for _ in range(3):
        if cli.poll() is None:
            cli.send_signal(signal.SIGINT)
        time.sleep(0.02)
    code, stdout, stderr = finish(cli)
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert left_after(mark) == [], stderr
    assert_partial_report(out, stdout + stderr)


def test_sigkill_of_the_cli_still_ends_its_children(folder: Path, tmp_path: Path,
                                                    mark: str) -> None:
    """Nothing in the CLI can run on SIGKILL: the children's lifeline ends them."""
    out = tmp_path / "never.json"
    cli = start_cli(folder, out, mark)
    wait_for_two_endless(cli, mark)
    cli.kill()
    cli.communicate()
    assert left_after(mark, wait_s=10) == []
    assert not out.exists()  # no half-written report either


def test_interrupt_before_any_run_finished(folder: Path, tmp_path: Path, mark: str) -> None:
    """Only endless variants: the partial report is written, with no runs."""
    out = tmp_path / "empty.json"
    cli = subprocess.Popen(
        [sys.executable, "-m", "mlxprobe.cli", "run", "--scenarios", str(folder), "--all",
         "--variant", "forever_a", "--json", str(out), "--step-floor", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=marked_env(mark))
    end = time.monotonic() + EXIT_TIMEOUT_S
    while not endless_children(mark):
        assert time.monotonic() < end and cli.poll() is None
        time.sleep(0.05)
    cli.send_signal(signal.SIGINT)
    code, _, stderr = finish(cli)
    assert code == 130, stderr
    assert left_after(mark) == []
    data = json.loads(out.read_text())
    assert data["complete"] is False and data["runs"] == []
