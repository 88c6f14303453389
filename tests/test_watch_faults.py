"""`mlxprobe watch` under faults and bad input: Ctrl-C, the harness killed, a program that
cannot start, an environment that already has a sitecustomize. Every process of the run
carries the test's marker; none may be left (leftovers.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from leftovers import kill_marked, left_after, marked_env, new_mark
from watching import GUARD_S, PROGRAMS, python, watch


@pytest.fixture
def mark() -> Iterator[str]:
    value = new_mark()
    yield value
    kill_marked(value)


def _start(tmp_path, mark: str, *program: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "mlxprobe.cli", "watch", "--json",
               str(tmp_path / "w.json"), "--", *program]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=marked_env(mark, tmp_path))


def _wait_for_line(proc: subprocess.Popen, text: bytes) -> None:
    end = time.monotonic() + GUARD_S
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed")


def test_ctrl_c_ends_the_program_tree_and_writes_a_partial_report(tmp_path, mark):
    proc = _start(tmp_path, mark, *python("printer.py", "--stall-at", "3"))
    _wait_for_line(proc, b"step 3 ")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=GUARD_S) == 130
    assert left_after(mark, wait_s=2.0) == []
    built = json.loads((tmp_path / "w.json").read_text())
    assert built["complete"] is False and built["runs"][0]["metrics"]["steps"] == 3


def test_the_program_dies_with_a_killed_harness(tmp_path, mark):
    proc = _start(tmp_path, mark, *python("printer.py", "--stall-at", "3"))
    _wait_for_line(proc, b"step 3 ")
    proc.kill()
    proc.wait(timeout=GUARD_S)
    assert left_after(mark, wait_s=5.0) == []  # the bootstrap's lifeline ended the group


@pytest.mark.parametrize("program, message", [
    ((), "no program to watch"),
    (("no-such-program-xyz",), "cannot run 'no-such-program-xyz': not found"),
    (("/etc/hostname",), "/etc/hostname"),  # root may pass the access check: exec fails
])
def test_bad_program_is_one_line_and_exit_2(program, message):
    done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", "watch", "--", *program],
                          capture_output=True, text=True, timeout=GUARD_S)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_bad_progress_regex_is_one_line_and_exit_2():
    for regex, message in (("(", "not a regular expression"), (r"loss (\d+)", "(?P<step>")):
        done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", "watch", "--progress",
                               regex, "--", "true"], capture_output=True, text=True,
                              timeout=GUARD_S)
        assert done.returncode == 2 and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_the_environments_own_sitecustomize_still_runs(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "ran"
    (site / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('yes')\n")
    done, entry = watch(tmp_path, *python("mlx_linear.py", "--steps", "20"),
                        env={"PYTHONPATH": str(site)})
    assert marker.read_text() == "yes"
    assert "update" in entry["sources"]  # and ours ran too


def test_a_user_progress_regex_reads_their_own_format(tmp_path):
    script = tmp_path / "odd.sh"
    script.write_text("#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do\n"
                      "  echo \"[$i] objective=$((20 - i)).0\"\ndone\n")
    script.chmod(0o755)
    done, entry = watch(tmp_path, str(script),
                        options=("--progress", r"\[(?P<step>\d+)\] objective=(?P<loss>[\d.]+)"))
    assert entry["metrics"]["steps"] == 12 and entry["metrics"]["loss_first"] == 19.0
    assert entry["verdict"] == "pass"


def test_a_program_killed_by_a_signal_is_a_crash_naming_it(tmp_path):
    script = tmp_path / "die.sh"
    script.write_text("#!/bin/sh\necho 'step 1 loss 2.0'\nkill -SEGV $$\n")
    script.chmod(0o755)
    done, entry = watch(tmp_path, str(script))
    assert (entry["verdict"], entry["detail"]) == ("crash", "SIGSEGV")
    assert entry["metrics"]["signal"] == signal.SIGSEGV
    assert str(PROGRAMS)  # the programs folder is the one the other tests use
