"""The runner: start one variant in a child process, watch it, end its tree, return raw facts.

Job: spawn `python -m mlxprobe.inside.child` in a new session with a dedicated record pipe, drain
its stdout/stderr (keeping tails, never blocking on full pipes), sample it from outside,
apply the watchdog policy, take stacks on a stall, then SIGTERM/SIGKILL the whole tree.
It judges nothing: `classify` does.

Must not import: mlx, the child side, the verdict.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ..launching.spec import RunSpec
from ..protocol import LIFELINE_FD_ENV, RECORD_FD_ENV, RUN_TOKEN_ENV
from . import procs, stacks, watchdog
from .facts import RawResult, Sample, Stall
from .records import RecordReader
from .sampler import Sampler

TICK_S = 0.05
TAIL_BYTES = 64 * 1024
INTERRUPT_GRACE_S = 0.5  # SIGTERM -> SIGKILL after Ctrl-C: "gone within a second or two"
REAP_TIMEOUT_S = 10.0  # after SIGKILL; only a process stuck in the kernel takes longer


class TailReader(threading.Thread):
    """Drains a pipe to EOF, keeping only the last TAIL_BYTES."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a binary file object
        super().__init__(name="mlxprobe-tail", daemon=True)
        self._stream = stream
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def run(self) -> None:
        while chunk := self._stream.read1(TAIL_BYTES):
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._chunks[0]) >= TAIL_BYTES:
                self._size -= len(self._chunks.popleft())
        self._stream.close()

    def text(self) -> str:
        return b"".join(self._chunks)[-TAIL_BYTES:].decode("utf-8", errors="replace")


class Watch:
    """Heartbeat bookkeeping fed by the record reader thread."""

    def __init__(self, started: float,
                 on_record: Callable[[dict], None] | None = None) -> None:
        self.started = started
        self.on_record = on_record  # told of each record as it arrives (live progress)
        self.records: list[dict] = []
        self.beats: list[float] = []
        self.compile_s = 0.0  # compiler time since the last heartbeat
        self._lock = threading.Lock()

    def add(self, record: dict) -> None:
        with self._lock:
            self.records.append(record)
            if record.get("kind") == "step":
                self.beats.append(record["t"])
                self.compile_s = 0.0
        if self.on_record is not None:
            self.on_record(record)

    def intervals(self, last: int | None = None) -> list[float]:
        """Seconds between heartbeats, the first counted from the start. With `last`, only
        the last `last` of them once there are more (the watchdog reads a recent window;
        a child beating 40 000 times a second must not cost O(steps) per tick)."""
        with self._lock:
            if last is not None and len(self.beats) > last:
                times = self.beats[-(last + 1):]
            else:
                times = [self.started, *self.beats]
        return [b - a for a, b in zip(times, times[1:])]

    def last_beat(self) -> float | None:
        with self._lock:
            return self.beats[-1] if self.beats else None


def child_command(spec: RunSpec, stacks_path: Path) -> list[str]:
    return [sys.executable, "-m", "mlxprobe.inside.child", "--root", str(spec.import_root),
            "--module", spec.module, "--variant", spec.variant, "--stacks", str(stacks_path)]


def child_env(spec: RunSpec, fd: int, lifeline_fd: int = -1, token: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.update(dict(spec.env))
    env[RECORD_FD_ENV] = str(fd)
    env[LIFELINE_FD_ENV] = str(lifeline_fd)  # EOF on it: the parent died, end the group
    env[RUN_TOKEN_ENV] = token  # inherited by all the child starts: found at the end
    env["PYTHONFAULTHANDLER"] = "1"  # a segfault in the child prints its stack to stderr
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


def run(spec: RunSpec, abort: threading.Event | None = None,
        on_record: Callable[[dict], None] | None = None) -> RawResult:
    """Run one variant to its end (or its deadline) and return what was observed.

    Setting `abort` (from another thread) ends the child's tree at once and marks the result
    `interrupted`. `on_record` (optional) sees each record as it arrives, on the reader
    thread: it must be quick and must not raise.
    """
    with tempfile.TemporaryDirectory(prefix="mlxprobe-") as tmp:
        stacks_path = Path(tmp) / "stacks.txt"
        read_fd, write_fd = os.pipe()
        life_read, life_write = os.pipe()  # the parent holds the write end while it lives
        token = uuid.uuid4().hex
        started = time.monotonic()
        try:
            child = subprocess.Popen(
                child_command(spec, stacks_path), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(write_fd, life_read), start_new_session=True,
                env=child_env(spec, write_fd, life_read, token))
        except BaseException:
            os.close(read_fd)
            os.close(life_write)
            raise
        finally:
            os.close(write_fd)
            os.close(life_read)
        try:
            return _watch_child(spec, child, read_fd, Watch(started, on_record), stacks_path,
                                abort, token)
        finally:
            os.close(life_write)  # after the tree is gone (closing it earlier ends the group)


def _watch_child(spec: RunSpec, child: subprocess.Popen, read_fd: int, watch: Watch,
                 stacks_path: Path, abort: threading.Event | None, token: str) -> RawResult:
    threads = _start_threads(child, read_fd, watch)
    sampler: Sampler = threads[0]
    raw = RawResult(started=watch.started)
    try:
        _loop(spec, child, watch, sampler, raw, stacks_path, abort or threading.Event())
    except KeyboardInterrupt:
        raw.interrupted = True
        raise
    finally:
        _finish(spec, child, watch, threads, raw, token)
    return raw


def _start_threads(child: subprocess.Popen, read_fd: int, watch: Watch) -> list:
    threads = [Sampler(child.pid), RecordReader(read_fd, watch.add),
               TailReader(child.stdout), TailReader(child.stderr)]
    for thread in threads:
        thread.start()
    return threads


def _loop(spec: RunSpec, child: subprocess.Popen, watch: Watch, sampler: Sampler,
          raw: RawResult, stacks_path: Path, abort: threading.Event) -> None:
    d = spec.deadlines
    while child.poll() is None:
        if abort.wait(TICK_S):
            raw.interrupted = True
            return
        latest = sampler.latest()
        if latest is not None and latest.compiling:
            watch.compile_s += TICK_S
        if _over_memory(spec, latest):
            raw.memory_limit_mb = spec.max_memory_mb
            # SIGKILL at once: a grace period would let it grab more
            procs.signal_all(child.pid, sampler.known_alive(), signal.SIGKILL)
            return
        now = time.monotonic()
        missed = watchdog.overdue(d, now, watch.started, watch.last_beat(), len(watch.beats),
                                  watch.intervals(d.window + 1), watch.compile_s)
        if missed is not None:
            raw.stall = _stall(missed, now, watch, sampler.samples)
            raw.python_stacks = stacks.python_stacks(child.pid, stacks_path)
            raw.native_stacks = stacks.native_stacks(child.pid)
            return


def _reap(child: subprocess.Popen) -> int | None:
    """The child's exit status; None if even SIGKILL did not end it (it is in `survivors`)."""
    try:
        return child.wait(timeout=REAP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None


def _over_memory(spec: RunSpec, latest: Sample | None) -> bool:
    return (spec.max_memory_mb is not None and latest is not None
            and latest.rss > spec.max_memory_mb * 1024 * 1024)


def _stall(missed: tuple[str, float], now: float, watch: Watch, samples: list[Sample]) -> Stall:
    """The facts of a missed deadline; CPU is measured before stacks are taken."""
    phase, deadline = missed
    since = watch.last_beat() or watch.started
    window = [s for s in list(samples) if s.t >= since]
    cpu = 0.0
    if len(window) >= 2 and window[-1].t > window[0].t:
        cpu = max(0.0, window[-1].cpu_s - window[0].cpu_s) / (window[-1].t - window[0].t)
    runnable = sum(1 for s in window if s.runnable > 0) / len(window) if window else 0.0
    steps = [r for r in watch.records if r.get("kind") == "step"]
    last_step = int(steps[-1].get("step", len(steps))) if steps else 0
    return Stall(phase, deadline, now - since, cpu, runnable, watch.compile_s, last_step)


def _finish(spec: RunSpec, child: subprocess.Popen, watch: Watch, threads: list,
            raw: RawResult, token: str) -> None:
    """End the tree, reap the child, join the readers, fill in the raw result."""
    sampler, reader, out, err = threads
    sampler.sample_once()  # make sure every live descendant is in `seen`
    grace = spec.deadlines.grace_s
    if raw.interrupted:  # the user is waiting and the run is discarded: a short grace only
        grace = min(grace, INTERRUPT_GRACE_S)
    raw.survivors = procs.end_run(child.pid, dict(sampler.seen), token, grace)
    code = _reap(child)
    sampler.stop()
    for thread in (sampler, reader, out, err):
        thread.join(timeout=5.0)
    if code is not None:
        raw.exit_code, raw.signal = (code, None) if code >= 0 else (None, -code)
    raw.records = list(watch.records)
    raw.malformed = reader.parser.malformed
    raw.samples = list(sampler.samples)
    raw.stdout_tail, raw.stderr_tail = out.text(), err.text()
    raw.wall_s = time.monotonic() - watch.started

