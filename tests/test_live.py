"""The live terminal view: redrawn under a (pseudo) terminal, plain lines otherwise, colour
only when wanted; and the coloured summary table."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import time

from conftest import CHILDREN, child_spec

from mlxprobe.pipeline import matrix
from mlxprobe.pipeline.outcome import execute
from mlxprobe.reporters import ansi, live, table

SGR = re.compile(r"\x1b\[[0-9;]*m")  # a colour code
REDRAW = re.compile(r"\x1b\[\d+F\x1b\[J")  # cursor up N lines, clear below
FOREVER = ("run", "--scenarios", str(CHILDREN), "--scenario", "plain", "--variant", "forever",
           "--budget", "2", "--step-floor", "1")
WINDOW = (40, 120)  # rows, columns of the pseudo-terminal


def env_with(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    env.update({k: v for k, v in changes.items() if v is not None})
    return {k: v for k, v in env.items() if v}


def in_pty(args: tuple[str, ...], env: dict[str, str], timeout: float = 90.0) -> str:
    """Everything the CLI wrote to its terminal (stdout and stderr both a pseudo-TTY)."""
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *WINDOW, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "mlxprobe.cli", *args], stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=30)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_terminal_gets_a_redrawn_live_block_and_colour() -> None:
    out = in_pty(FOREVER, env_with())
    assert len(REDRAW.findall(out)) >= 3  # redrawn while the run went on
    frames = re.findall(r"plain \[forever\]\s+[\d.]+ s  (\d+) steps  [\d.]+ ms/step", out)
    assert len(frames) >= 2 and int(frames[-1]) > int(frames[0])  # steps so far, climbing
    assert "running, 0/1 done" in out
    assert "\x1b[1;31mhang:cpu_idle" in out  # the verdict, coloured in the line ...
    assert re.search(r"plain +forever +hang +\x1b\[1;31mhang:cpu_idle", out)  # ... table
    assert "1/1 verdicts matched" in out


def test_no_color_keeps_the_live_view_without_colour() -> None:
    for args, env in ((FOREVER, env_with(NO_COLOR="1")), ((*FOREVER, "--no-color"), env_with())):
        out = in_pty(args, env)
        assert REDRAW.search(out) and "steps" in out
        assert not SGR.search(out), repr(SGR.search(out))


def test_dumb_terminal_gets_plain_lines() -> None:
    out = in_pty(FOREVER, env_with(TERM="dumb"))
    assert "\x1b" not in out
    assert "plain [forever]: started (1 running, 0/1 done)" in out


def test_not_a_terminal_gets_plain_lines() -> None:
    done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", *FOREVER],
                          capture_output=True, text=True, timeout=90, env=env_with())
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "plain [forever]: started (1 running, 0/1 done)"
    assert re.fullmatch(r"plain \[forever\]: hang:cpu_idle \(ok, \d+ steps, [\d.]+ s, "
                        r"1/1 done\)", lines[1])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_block_shows_each_running_variant_and_its_steps() -> None:
    clock, out = Clock(), io.StringIO()
    view = live.LiveView(3, out, color=False, live=True, clock=clock)
    view.started(0, child_spec("ok"))
    clock.now += 2.0
    view.started(1, child_spec("grow"))
    for _ in range(7):
        view.record(0, {"kind": "step", "step_s": 0.0042, "loss": 2.5})
    view.record(0, {"kind": "note", "loss": 99})  # not a step: not counted
    clock.now += 63.0
    assert view.block() == ["| 2 running, 0/3 done, 1:05 elapsed",
                            "  plain [ok]      65.0 s  7 steps  4.2 ms/step  loss 2.5",
                            "  plain [grow]    63.0 s  starting"]
    assert REDRAW.search(out.getvalue())


def test_finished_runs_print_a_line_and_leave_the_block() -> None:
    out = io.StringIO()
    with live.LiveView(1, out, color=True, live=True) as view:
        outcomes = matrix.run_all([child_spec("ok")], 1, watcher=view)
        assert view.block()[1:] == []
    assert outcomes[0].verdict.kind == "pass"
    text = out.getvalue()
    assert "plain [ok]: \x1b[32mpass\x1b[0m (\x1b[32mok\x1b[0m, 50 steps" in text
    assert text.endswith("\x1b[J")  # the block is erased at the end


def test_interrupted_run_line() -> None:
    import threading

    abort = threading.Event()
    abort.set()
    outcome = execute(child_spec("forever"), abort)
    view = live.LiveView(1, io.StringIO(), live=False)
    assert outcome.raw.interrupted
    assert view.result_line(outcome).startswith("plain [forever]: interrupted (")


def test_names_cannot_inject_escape_codes() -> None:
    assert live.printable("a\x1b[2Jb\nc") == "a?[2Jb?c"


def test_clip_counts_only_visible_characters() -> None:
    line = ansi.paint("x" * 50, "bad", True) + "y" * 50
    clipped = live._clip(line, 60)
    assert SGR.sub("", clipped) == "x" * 50 + "y" * 9
    assert clipped.count("\x1b[") == 2  # the colour is still closed


def test_colour_is_refused_by_no_color_and_pipes(monkeypatch) -> None:  # noqa: ANN001
    with open(os.devnull, "w") as pipe_like:
        assert not ansi.color_wanted(pipe_like)
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            monkeypatch.setenv("TERM", "xterm")
            monkeypatch.delenv("NO_COLOR", raising=False)
            assert ansi.color_wanted(tty) and not ansi.color_wanted(tty, no_color=True)
            monkeypatch.setenv("NO_COLOR", "1")
            assert not ansi.color_wanted(tty)
            monkeypatch.setenv("NO_COLOR", "")  # empty means unset (no-color.org)
            assert ansi.color_wanted(tty)
    finally:
        os.close(master)
        os.close(slave)


def test_coloured_table_lines_up_with_the_plain_one() -> None:
    entries = [execute(child_spec(v)).entry for v in ("ok", "flat_loss")]
    plain, coloured = table.render(entries), table.render(entries, color=True)
    assert SGR.sub("", coloured) == plain
    assert "\x1b[32mpass" in coloured and "\x1b[33mnot_learning:loss" in coloured
