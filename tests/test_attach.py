"""`mlxprobe attach`'s parts without a live MLX process: the step counter read from py-spy
looks, the judgement of `Attached` facts, the permission messages, bad input. Cost: < 3 s
(two tiny child processes for the CLI's one-line errors)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import pytest

from mlxprobe import cli
from mlxprobe.commands import attach
from mlxprobe.judging import now
from mlxprobe.watching import counters, pyspy, target
from mlxprobe.watching.attached import Attached
from mlxprobe.watching.facts import Sample

PID = 4242


def look(t: float, frames: list[tuple[str, int, dict]], tid: int = PID) -> pyspy.Look:
    shown = tuple(pyspy.Frame(name, "train.py", line, ints) for name, line, ints in frames)
    return pyspy.Look(t, (pyspy.Thread(tid, "MainThread", True, shown),), 0.1)


def samples(seconds: float, cores: float, runnable: int, mb_per_s: float = 0.0) -> list:
    return [Sample(t / 20, int((100 + mb_per_s * t / 20) * 2**20), cores * t / 20, 1, False,
                   runnable) for t in range(int(seconds * 20))]


def facts(looks: list, seconds: float, **kw) -> Attached:
    return Attached(PID, ["python", "train.py"], 0.0, window_s=seconds, looks=looks, **kw)


def test_counter_is_the_step_named_local_that_went_up() -> None:
    looks = [look(t, [("inner", 9, {"i": (7 * t) % 5}), ("train", 20, {"step": 10 + 3 * t,
                                                                          "total": 500})])
             for t in range(6)]
    found = counters.step_counter(looks, PID)
    assert found is not None and (found.name, found.first, found.last) == ("step", 10, 25)
    assert found.rate == pytest.approx(3.0)


def test_a_step_named_local_that_stayed_is_where_a_stuck_loop_sits() -> None:
    looks = [look(t, [("train", 59, {"step": 39, "other": 5})]) for t in range(6)]
    found = counters.step_counter(looks, PID)
    assert found is not None and not found.moved and found.last == 39
    assert counters.unchanged_tail(looks, PID) == (6, 5.0)


def test_progressing_with_its_rate() -> None:
    looks = [look(t, [("train", 20 + t % 2, {"step": 5 * t})]) for t in range(8)]
    verdict = now.judge(facts(looks, 8.0, samples=samples(8, 1.0, 1)))
    assert verdict.kind == "progressing" and verdict.detail == "counter"
    assert verdict.evidence["progress"]["per_s"] == pytest.approx(5.0)
    assert "5.00 steps/s" in verdict.reason


def test_progress_from_the_output_file_when_no_counter_is_visible() -> None:
    looks = [look(t, [("<module>", 20 + t % 3, {})]) for t in range(8)]
    records = [{"kind": "progress", "source": "output", "step": 10 * k, "loss": 2.0 - k / 10,
                "t": float(k)} for k in range(1, 8)]
    verdict = now.judge(facts(looks, 8.0, records=records, samples=samples(8, 1.0, 1)))
    assert verdict.label == "progressing:output" and "10.00 steps/s" in verdict.reason


def test_idle_stuck_is_hang_cpu_idle_naming_what_it_waits_on() -> None:
    frames = [("Condition.wait", 327, {}), ("Queue.get", 171, {}), ("train", 59, {"step": 39})]
    looks = [look(t, [(n, ln, d) for n, ln, d in frames]) for t in range(10)]
    looks = [pyspy.Look(x.t, (pyspy.Thread(PID, "MainThread", False, tuple(
        pyspy.Frame(f.name, "/usr/lib/python3.11/threading.py" if f.name == "Condition.wait"
                    else f.file, f.line, f.ints) for f in x.threads[0].frames)),), 0.1)
             for x in looks]
    verdict = now.judge(facts(looks, 10.0, samples=samples(10, 0.0, 0)))
    assert verdict.label == "hang:cpu_idle"
    assert "a lock, condition or queue" in verdict.reason and "stayed at 39" in verdict.reason
    assert verdict.evidence["steps"] == 39 and verdict.hint


def test_busy_stuck_is_hang_cpu_busy() -> None:
    looks = [look(t, [("<module>", 27, {})]) for t in range(10)]
    native = f'Thread {PID} (active): "MainThread"\n    mlx::core::eval_impl (libmlx.so)\n'
    verdict = now.judge(facts(looks, 10.0, samples=samples(10, 1.0, 1),
                              native_stacks=native))
    assert verdict.label == "hang:cpu_busy" and "MLX evaluation" in verdict.reason


def test_a_program_that_stopped_moving_is_stuck_only_for_the_tail() -> None:
    looks = [look(t, [("<module>", 23 + t % 4 if t < 6 else 27, {})]) for t in range(10)]
    verdict = now.judge(facts(looks, 10.0, samples=samples(10, 1.0, 1)))
    assert verdict.kind == "moving"  # 27 seen in looks 6-9 only: 3 s, under STUCK_S
    looks += [look(t, [("<module>", 27, {})]) for t in range(10, 13)]
    verdict = now.judge(facts(looks, 13.0, samples=samples(13, 1.0, 1)))
    assert verdict.label == "hang:cpu_busy" and verdict.evidence["stuck_s"] == 6.0


def test_moving_with_rss_climbing_is_a_leak() -> None:
    looks = [look(t, [("<module>", 23 + t % 4, {})]) for t in range(12)]
    verdict = now.judge(facts(looks, 12.0, samples=samples(12, 1.0, 1, mb_per_s=40.0)))
    assert verdict.kind == "leak" and "no step could be read" in verdict.reason


def test_short_looks_are_undecided_and_ended_ones_finished() -> None:
    looks = [look(t, [("<module>", 27, {})]) for t in range(3)]
    assert now.judge(facts(looks, 3.0)).kind == "undecided"
    assert not now.settled(facts(looks, 3.0))
    ended = facts(looks, 3.0, ended_at=2.5)
    assert now.judge(ended).kind == "finished" and now.settled(ended)


def test_ptrace_messages_say_what_to_run() -> None:
    cmd = "mlxprobe attach 7"
    assert target.ptrace_problem(7, "linux", 0, 1000, 1, cmd) is None
    assert target.ptrace_problem(7, "linux", 1000, 1000, 0, cmd) is None
    yama = target.ptrace_problem(7, "linux", 1000, 1000, 1, cmd)
    assert "sudo mlxprobe attach 7" in yama and "ptrace_scope=0" in yama
    assert "sudo mlxprobe attach 7" in target.ptrace_problem(7, "linux", 1000, 0, 0, cmd)
    assert "reboot" in target.ptrace_problem(7, "linux", 0, 0, 3, cmd)
    assert "sudo mlxprobe attach 7" in target.ptrace_problem(7, "darwin", 501, 501, None, cmd)
    assert target.ptrace_problem(7, "darwin", 0, 501, None, cmd) is None
    for problem in (yama, target.ptrace_problem(7, "darwin", 501, 501, None, cmd)):
        assert "\n" not in problem


def test_durations() -> None:
    assert [attach.duration(t) for t in ("10s", "10", "500ms", "2m")] == [10, 10, 0.5, 120]
    for bad in ("0", "-1s", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            attach.duration(bad)


def _one_line_exit_2(argv: list[str], capsys) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    return err


def test_no_such_process_is_one_line(capsys) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True)
    err = _one_line_exit_2(["attach", finished.stdout.strip()], capsys)
    assert "no process" in err


def test_not_an_mlx_program_is_one_line(capsys) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        err = _one_line_exit_2(["attach", str(child.pid)], capsys)
        assert "not an MLX program" in err
    finally:
        child.kill()
        child.wait()


def test_a_look_that_raced_the_interpreter_is_asked_again_a_lasting_error_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """py-spy's non-blocking read can fail one look ("Failed to get stack traces", seen by
    the soak under load); only a lasting error (not Python, no py-spy) stops the asking."""
    from mlxprobe.watching import attacher as attaching

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        answers = [pyspy.LookError("Failed to get stack traces"), look(1.0, [("train", 5, {})])]
        monkeypatch.setattr(attaching.pyspy, "look", lambda pid: _answer(answers))
        session = attaching.Session(psutil_process(child.pid), ["python"], 1.0)
        session._look()
        session._look()
        assert len(session.facts.looks) == 1
        answers[:] = [pyspy.LookError("not a Python process", lasting=True)] * 2
        lasting = attaching.Session(psutil_process(child.pid), ["python"], 1.0)
        lasting._look()
        lasting._look()
        assert len(answers) == 1 and not lasting.facts.looks  # asked once only
    finally:
        child.kill()
        child.wait()


def _answer(answers: list):
    got = answers.pop(0)
    if isinstance(got, Exception):
        raise got
    return got


def psutil_process(pid: int):
    import psutil

    return psutil.Process(pid)


def test_the_python_stacks_shown_are_the_last_whole_read_of_the_main_thread():
    from mlxprobe.watching import pyspy
    from mlxprobe.watching.attached import Attached

    def look(t: float, *names: str) -> pyspy.Look:
        frames = tuple(pyspy.Frame(n, "train.py", i + 1) for i, n in enumerate(names))
        return pyspy.Look(t, (pyspy.Thread(1, "MainThread", True, frames),), 0.01)

    facts = Attached(pid=1, argv=["python", "train.py"], started=0.0, window_s=4.0)
    facts.looks = [look(1.0, "step", "train", "<module>"), look(2.0, "Adam.apply_single")]
    assert "train (train.py:2)" in facts.python_stacks()  # the torn last read passed over
    facts.looks = [look(1.0, "Adam.apply_single")]
    assert "Adam.apply_single" in facts.python_stacks()  # none whole: the last one
