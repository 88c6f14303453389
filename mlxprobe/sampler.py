"""The sampler: reads the child's process tree from outside (RSS, CPU time, compilers) at 20 Hz.

Job: a thread that polls psutil and appends `Sample`s. It also remembers every pid it has seen
in the tree (with its start time), so the runner can kill grandchildren that left the
process group or were re-parented after their parent died.

Must not import: mlx, the child side. It never signals the child: it only reads.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import psutil

from .facts import Sample
from .procs import still_running

INTERVAL_S = 0.05  # 20 Hz: fine enough to see a 0.2 ms-per-step loop's RSS ramp between beats
COMPILERS = frozenset({"g++", "gcc", "c++", "cc", "cc1", "cc1plus", "clang", "clang++",
                       "as", "ld", "collect2"})


class Sampler(threading.Thread):
    """Samples the tree rooted at `pid` until stopped."""

    def __init__(self, pid: int, interval_s: float = INTERVAL_S) -> None:
        super().__init__(name="mlxprobe-sampler", daemon=True)
        self._root = pid
        self._interval = interval_s
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self.samples: list[Sample] = []
        self.seen: dict[int, float] = {}  # pid -> create_time
        self._searched_at: int | None = None  # last_pid() when descendants were last searched

    def stop(self) -> None:
        self._stop_event.set()

    def latest(self) -> Sample | None:
        with self._lock:
            return self.samples[-1] if self.samples else None

    def run(self) -> None:
        while not self._stop_event.is_set():
            sample = self.sample_once()
            if sample is not None:
                with self._lock:
                    self.samples.append(sample)
            self._stop_event.wait(self._interval)

    def sample_once(self) -> Sample | None:
        procs = self.tree()
        rss, cpu, compiling, alive, runnable = 0, 0.0, False, 0, 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                    compiling = compiling or proc.name() in COMPILERS
                    runnable += runnable_threads(proc)
                alive += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        if not alive:
            return None
        return Sample(time.monotonic(), rss, cpu, alive, compiling, runnable)

    def tree(self) -> list[psutil.Process]:
        """The root, its descendants, and earlier-seen descendants that are still alive.

        Finding descendants reads every process on the machine (80% of a sample's cost,
        benchmarks/RESULTS.md), so it is skipped while no process was created since the
        last search: then none can have joined the tree."""
        procs = self.known_alive()
        stamp = last_pid()
        if stamp is not None and stamp == self._searched_at:
            return procs
        try:
            root = psutil.Process(self._root)
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid not in self.seen:
                    self.seen[proc.pid] = proc.create_time()
                    procs.append(proc)
            self._searched_at = stamp
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
        return procs

    def known_alive(self) -> list[psutil.Process]:
        """Processes seen earlier that still exist with the same start time (no pid reuse)."""
        return still_running(dict(self.seen))


def last_pid() -> int | None:
    """The pid most recently given to a new process or thread (Linux: the last field of
    /proc/loadavg); unchanged means nothing was created. None where it cannot be read."""
    try:
        fd = os.open("/proc/loadavg", os.O_RDONLY)
        try:
            return int(os.read(fd, 256).split()[-1])
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return None


def runnable_threads(proc: psutil.Process) -> int:
    """Threads of `proc` in state R (on a core or queued for one).

    On Linux each thread's state is read from /proc/<pid>/task/<tid>/stat: a process whose
    main thread waits while a worker thread computes (MLX evaluates on a stream thread) still
    counts as busy, and a busy process starved of CPU by other load still counts as busy
    (its CPU time alone would look idle). Elsewhere: the process state.
    """
    if sys.platform != "linux":
        return int(proc.status() == psutil.STATUS_RUNNING)
    count = 0
    try:
        tasks = os.listdir(f"/proc/{proc.pid}/task")
    except OSError:
        return 0
    for tid in tasks:  # plain os calls: this runs 20 times a second per process
        try:
            with open(f"/proc/{proc.pid}/task/{tid}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue
        count += text[text.rfind(b")") + 2: text.rfind(b")") + 3] == b"R"
    return count
