"""`mlxprobe watch -- PROGRAM`: the user's own program, unchanged, under the watchdog.

Plain-Python and shell programs (tests/programs/) for the harness's behaviour; a real MLX
loop for the bootstrap's heartbeats and for "the observer does not change the observed".
"""

from __future__ import annotations

import math
import re
import subprocess

import pytest
from watching import PROGRAMS, python, watch

LOSS_LINE = re.compile(rb"^step \d+ loss [0-9.]+$", re.M)


def losses(stdout: bytes) -> list[float]:
    return [float(line.split()[-1]) for line in LOSS_LINE.findall(stdout)]


def test_output_reaches_the_user_unchanged_then_the_final_block(tmp_path):
    program = python("printer.py", "--steps", "40")
    alone = subprocess.run(program, capture_output=True, timeout=60)
    done, entry = watch(tmp_path, *program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(alone.stdout)  # byte for byte, then mlxprobe's block
    assert b"verdict" in done.stdout[len(alone.stdout):]
    assert entry["verdict"] == "pass" and entry["expected"] is None
    assert entry["sources"] == ["output"] and entry["metrics"]["steps"] == 40


def test_stderr_lines_pass_through_and_count_as_progress(tmp_path):
    program = python("printer.py", "--steps", "30", "--stderr")
    alone = subprocess.run(program, capture_output=True, timeout=60)
    done, entry = watch(tmp_path, *program)
    assert alone.stderr and done.stderr.startswith(alone.stderr)
    assert entry["metrics"]["steps"] == 30


def test_a_clean_exit_is_pass_never_no_end_record(tmp_path):
    done, entry = watch(tmp_path, *python("printer.py", "--steps", "3"))
    assert (done.returncode, entry["verdict"]) == (0, "pass")
    assert entry["metrics"]["exit_code"] == 0


@pytest.mark.parametrize("args, label", [
    (("--exit", "3"), "crash:exit_3"),
    (("--raise", "shapes do not match"), "crash:ValueError"),
])
def test_a_failing_program_is_a_crash_with_its_exit_code(tmp_path, args, label):
    done, entry = watch(tmp_path, *python("printer.py", *args))
    assert done.returncode == 1
    assert f"{entry['verdict']}:{entry['detail']}" == label
    if "--raise" in args:
        assert entry["evidence"]["message"] == "shapes do not match"


def test_user_probe_calls_work_under_watch(tmp_path):
    done, entry = watch(tmp_path, *python("printer.py", "--probe", "--steps", "20"))
    assert entry["verdict"] == "wrong_result" and entry["detail"] == "final_accuracy"
    assert "probe" in entry["sources"]
    assert entry["evidence"]["failed_checks"]["final_accuracy"]["accuracy"] == 0.1


def test_user_probe_calls_are_no_ops_outside_mlxprobe():
    done = subprocess.run(python("printer.py", "--probe", "--steps", "5"), capture_output=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == b""


def test_a_flat_loss_from_the_output_is_not_learning(tmp_path):
    done, entry = watch(tmp_path, *python("printer.py", "--flat", "--steps", "60"))
    assert (done.returncode, entry["verdict"], entry["detail"]) == (1, "not_learning", "trend")
    assert entry["evidence"]["trend"]["points"] == 60


def test_a_shell_program_that_stalls_is_a_hang_from_its_output(tmp_path):
    done, entry = watch(tmp_path, str(PROGRAMS / "stall.sh"), "stall",
                        options=("--step-floor", "1"))
    assert (done.returncode, entry["verdict"]) == (1, "hang")
    assert entry["evidence"]["last_step"] == 20 and entry["sources"] == ["output"]


def test_a_shell_program_that_runs_clean_passes(tmp_path):
    done, entry = watch(tmp_path, str(PROGRAMS / "stall.sh"))
    assert (done.returncode, entry["verdict"]) == (0, "pass")
    assert entry["metrics"]["steps"] == 20


def test_a_python_program_that_stops_moving_is_a_hang_with_its_stack(tmp_path):
    done, entry = watch(tmp_path, *python("printer.py", "--stall-at", "10"),
                        options=("--step-floor", "1"))
    assert (entry["verdict"], entry["detail"]) == ("hang", "cpu_idle")
    assert "time.sleep" in entry["stacks"]["python"] or "printer.py" in entry["stacks"]["python"]


def test_a_silent_checkpoint_write_extends_the_deadline_never_a_false_hang(tmp_path):
    # 5 s of writing with no output and the same stack at every look: its I/O shows it moving
    done, entry = watch(tmp_path, *python("printer.py", "--save-at", "5", "--steps", "8"),
                        options=("--step-floor", "1"))
    assert entry["verdict"] == "pass", entry["reason"]
    assert entry["extensions"] >= 1 and entry["metrics"]["steps"] == 8


def test_an_endless_silent_loop_is_a_busy_hang(tmp_path):
    # no output, no I/O, a loop whose signal-time stack never changes: that is a hang
    done, entry = watch(tmp_path, *python("printer.py", "--busy-at", "5"),
                        options=("--step-floor", "1"))
    assert (entry["verdict"], entry["detail"]) == ("hang", "cpu_busy")


def test_losses_are_identical_with_and_without_watch(tmp_path):
    program = python("mlx_linear.py", "--steps", "60")
    alone = subprocess.run(program, capture_output=True, timeout=120)
    done, entry = watch(tmp_path, *program)
    # MLX's CPU backend is not bit-reproducible under load: measured with no mlxprobe at all,
    # two busy cores, 10 runs of this program: step 10 printed 0.30050734 four times,
    # 0.30050737 once, 0.30050740 five times (2e-7 relative). Equal within that, not beyond.
    alone_losses, watched = losses(alone.stdout), losses(done.stdout)
    assert len(alone_losses) == len(watched) == 6
    assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
               for a, b in zip(alone_losses, watched)), (alone_losses, watched)
    assert entry["verdict"] == "pass" and "update" in entry["sources"]
    assert entry["metrics"]["steps"] == 60  # one heartbeat per optimizer update


def test_a_compiled_step_beats_on_its_evaluations(tmp_path):
    done, entry = watch(tmp_path, *python("mlx_linear.py", "--steps", "50", "--compiled"))
    assert entry["verdict"] == "pass", entry["reason"]
    # the update runs once, while the step is traced; every later step shows as its eval
    assert entry["sources"] == ["update", "eval", "output"]
    assert entry["metrics"]["steps"] == 50


def test_a_learning_rate_of_zero_is_no_update(tmp_path):
    """Parameters that never change over >= 3 looks: `no_update`, whatever the loss does.
    The run is made to last 2 s, so that its looks (at most four a second) are enough on a
    quiet machine too: the program without it takes 0.34 s here, too short for three looks; then
    the flat loss gives `not_learning:trend` (this machine under load gave `no_update`)."""
    done, entry = watch(tmp_path, *python("mlx_linear.py", "--steps", "200", "--lr", "0",
                                          "--step-sleep", "0.01"))
    assert (entry["verdict"], entry["detail"]) == ("no_update", "params"), entry["reason"]
    assert "learning rate is not 0" in entry["hint"]


def test_the_probe_gives_exact_evidence_under_watch(tmp_path):
    done, entry = watch(tmp_path, *python("mlx_linear.py", "--steps", "40", "--lr", "0",
                                          "--probe"))
    assert entry["sources"][0] == "probe"  # the probe's steps are the series judged
    assert (entry["verdict"], entry["detail"]) == ("not_learning", "trend")
    assert entry["evidence"]["trend"]["points"] == 40


def test_on_a_terminal_a_status_line_stays_below_the_output(tmp_path):
    import os
    import pty
    import sys

    command = [sys.executable, "-m", "mlxprobe.cli", "watch", "--", *python(
        "printer.py", "--steps", "12", "--every", "0.2")]
    pid, fd = pty.fork()
    if pid == 0:  # the child: mlxprobe on a terminal
        os.execvp(command[0], command)
    screen = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.waitpid(pid, 0)
    assert b"step 12 loss" in screen
    assert b"\x1b[2mmlxprobe 0:0" in screen and b"| step " in screen  # the status line
    assert b"\r\x1b[K" in screen  # cleared before the program's next line
    shown = re.sub(rb"\x1b\[2m[^\x1b]*\x1b\[0m", b"", screen).replace(b"\r\x1b[K", b"")
    program_lines = [line for line in shown.split(b"\r\n") if line.startswith(b"step ")]
    assert len(program_lines) == 12  # every program line intact, none broken by the status


def test_a_slow_shutdown_after_the_last_step_is_not_signalled_nor_a_hang(tmp_path):
    # measured on a GPU: freeing a 1.9 GB graph after the loop took longer than the step
    # deadline, and the stack signal then ended the process in Python's finalisation
    script = tmp_path / "slow_exit.py"
    script.write_text("import atexit, time\n"
                      "atexit.register(lambda: time.sleep(7))  # registered first: runs last\n"
                      "for i in range(1, 21):\n"
                      "    print(f'step {i} loss {5 / i:.4f}', flush=True)\n")
    done, entry = watch(tmp_path, "python3", str(script), options=("--step-floor", "1"))
    assert (entry["verdict"], entry["metrics"]["exit_code"]) == ("pass", 0), entry["reason"]
