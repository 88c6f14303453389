"""The attach session: sample a running process from outside, never changing it.

Job: for a window (`for_s`), or until `settled(facts)` says the verdict is decided (with
`for_s` as the cap): the tree's RSS, CPU and runnable threads at 20 Hz (the `Sampler` watch
uses), one non-blocking py-spy look a second (Python stacks and integer locals: the process
is not stopped), the new lines of its output where stdout/stderr are files, its I/O bytes,
and CPU by thread over the window; at the end, unless `nonblocking`, one `py-spy dump
--native` (the only step that pauses the process: ptrace stops it while its native stacks
are unwound; the pause is measured and reported).

Must not import: mlx, the inside side, judging (the settle test is passed in).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from collections.abc import Callable

import psutil

from . import compiling, confirm, outfile, output, pyspy, stacks, target, threads
from .attached import Attached
from .output import ProgressParser
from .sampler import Sampler

LOOK_EVERY_S = 1.0  # one py-spy look a second: enough to see a counter move or a stack stay
SAMPLE_S = 0.05  # the sampler's 20 Hz


class Session:
    """One attach: `run()` fills and returns the `Attached` facts."""

    def __init__(self, proc: psutil.Process, argv: list[str], for_s: float,
                 settled: Callable[[Attached], bool] | None = None,
                 nonblocking: bool = False, progress: str | None = None) -> None:
        self.proc, self.for_s, self.settled = proc, for_s, settled
        self.nonblocking = nonblocking
        self.facts = Attached(proc.pid, argv, time.monotonic(),
                              environment=target.environment(proc.pid))
        self.files = self._output_files(progress)
        self.sampler = Sampler(proc.pid, SAMPLE_S)
        self._hopeless = False  # a lasting LookError: py-spy is never asked again

    def _output_files(self, progress: str | None) -> list[outfile.OutputFile]:
        found, seen = [], set()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            path, what = outfile.target(self.proc.pid, fd)
            self.facts.outputs[name] = what
            if path is not None and path not in seen:
                seen.add(path)
                try:
                    found.append(outfile.OutputFile(path, ProgressParser(progress)))
                except OSError as exc:
                    self.facts.outputs[name] = f"{path} (unreadable: {exc.strerror})"
        return found

    def run(self) -> Attached:
        facts = self.facts
        io_before = confirm.io_bytes([self.proc.pid])
        cpu_before = threads.thread_times(self.proc.pid)
        self.sampler.start()
        try:
            self._looks()
        finally:
            self.sampler.stop()
            self.sampler.join(timeout=2.0)
        facts.window_s = time.monotonic() - facts.started
        facts.samples = self.sampler.samples.retained()
        facts.io_bytes = max(0, confirm.io_bytes([self.proc.pid]) - io_before)
        if facts.ended_at is None:
            facts.threads = threads.cores_between(self.proc.pid, cpu_before, facts.window_s)
            self._native()
        else:
            facts.native_stacks = "(not taken: the process ended)"
        self._gather_output()
        return facts

    def _looks(self) -> None:
        facts, end = self.facts, self.facts.started + self.for_s
        while time.monotonic() < end:
            began = time.monotonic()
            if not self._alive():
                facts.ended_at = began
                return
            self._look()
            self._gather_output()
            facts.window_s = time.monotonic() - facts.started
            facts.samples = self.sampler.samples.retained()
            if self.settled is not None and self.settled(facts):
                return
            time.sleep(max(0.0, min(end, began + LOOK_EVERY_S) - time.monotonic()))

    def _look(self) -> None:
        if self._hopeless:
            return  # not a Python process, or py-spy missing: no use asking again
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            self.facts.looks.append(pyspy.look(self.proc.pid))
        except pyspy.LookError as exc:
            if self._alive():
                self.facts.look_error = str(exc)
                self._hopeless = exc.lasting  # one look's race: the next may succeed
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        costs = self.facts.costs.setdefault("look_cpu_s", [])
        costs.append(round(cpu, 4))

    def _gather_output(self) -> None:
        for file in self.files:
            file.read()
        self.facts.records = sorted((r for f in self.files for r in f.records),
                                    key=lambda r: r["t"])
        self.facts.before = [r for f in self.files for r in f.before]
        quiet = [f.modified_ago for f in self.files]
        self.facts.output_quiet_s = min(quiet) if quiet else None

    def _alive(self) -> bool:
        try:
            return self.proc.is_running() and self.proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _native(self) -> None:
        if self.nonblocking:
            self.facts.native_stacks = ("(not taken: --nonblocking; a native dump pauses the "
                                        "process while its stacks are unwound)")
            return
        start = time.monotonic()
        if self.facts.look_error.startswith("not a Python process") and not stacks.macos():
            self.facts.native_stacks = gdb_stacks(self.proc.pid)
            self.facts.native_pause_s = round(time.monotonic() - start, 3)
            return
        # py-spy colours its text when the environment asks for colour (a Jupyter kernel's
        # CLICOLOR_FORCE, inherited by the notebook watcher): plain text for the reports
        self.facts.native_stacks = output.strip_ansi(stacks.native_stacks(self.proc.pid))
        self.facts.native_pause_s = round(time.monotonic() - start, 3)
        self.facts.compiler = compiling.compiler_frame(self.facts.native_stacks)


GDB_TIMEOUT_S = 30.0


def gdb_stacks(pid: int) -> str:
    """Every thread's native stack of a process that is not Python (py-spy reads only
    Python), from `gdb -batch`: like py-spy's native mode it stops the process while it
    unwinds, then detaches; the process runs on."""
    tool = shutil.which("gdb")
    if tool is None:
        return "(no native stacks: not a Python process and gdb is not installed)"
    try:
        done = subprocess.run([tool, "-batch", "-nx", "-p", str(pid), "-ex",
                               "thread apply all bt 40"], capture_output=True, text=True,
                              timeout=GDB_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return f"(gdb failed: {exc})"
    frames = [ln for ln in done.stdout.splitlines() if ln.startswith(("Thread ", "#"))]
    return "\n".join(frames)[-stacks.MAX_STACK_CHARS:] or f"(gdb failed: {done.stderr[-300:]})"
