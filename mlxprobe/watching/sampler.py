"""The sampler: reads the child's process tree from outside (RSS, CPU time, compilers) at 20 Hz.

Job: a thread that polls the tree and appends `Sample`s to a bounded `SampleStore`
(whole for 20 minutes, then thinned, with the exact peak RSS). It also remembers every pid it has
seen in the tree (with its start time), so the runner can kill grandchildren that left the
process group or were re-parented after their parent died.

Cost: at 20 Hz it must stay well under 1% of a core (benchmarks/RESULTS.md, point 3). On Linux
a sample is one read of /proc/<pid>/stat per process (state, start time, CPU, RSS, name) plus
its threads' states, and new descendants are looked for only among processes created since the
last look; psutil (elsewhere, and to find the tree once) costs several times that.

Must not import: mlx, the child side. It never signals the child: it only reads.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import NamedTuple

import psutil

from .devices import DeviceMemory
from .facts import Sample
from .procs import still_running
from .samples import SampleStore

INTERVAL_S = 0.05  # 20 Hz: fine enough to see a 0.2 ms-per-step loop's RSS ramp between beats
COMPILERS = frozenset({"g++", "gcc", "c++", "cc", "cc1", "cc1plus", "clang", "clang++",
                       "as", "ld", "collect2"})
# MLXPROBE_NO_PROC=1 (a debugging switch) reads every process through psutil even on Linux:
# the path macOS takes, so that CI on Linux exercises it (README, "Apple silicon")
NO_PROC_ENV = "MLXPROBE_NO_PROC"
LINUX = sys.platform == "linux" and os.environ.get(NO_PROC_ENV, "") in ("", "0")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if LINUX else 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if LINUX else 100
PF_FORKNOEXEC = 0x40  # /proc/<pid>/stat flags: forked, has not exec'd yet (shares its pages)
HWM_EVERY = 20  # read the kernel's RSS high-water mark (VmHWM) once a second at 20 Hz


class Reading(NamedTuple):
    """One process at one moment."""

    rss: int
    cpu_s: float
    compiling: bool
    runnable: int
    ppid: int = 0
    forked: bool = False  # forked and not exec'd yet: its RSS is (mostly) its parent's pages


class Sampler(threading.Thread):
    """Samples the tree rooted at `pid` until stopped."""

    def __init__(self, pid: int, interval_s: float = INTERVAL_S) -> None:
        super().__init__(name="mlxprobe-sampler", daemon=True)
        self._root = pid
        self._interval = interval_s
        self._stop_event = threading.Event()
        self.samples = SampleStore()
        self.seen: dict[int, float] = {}  # pid -> create_time
        self._starts: dict[int, int | None] = {}  # pid -> start time in clock ticks (Linux)
        self._alive: set[int] = set()  # pids that answered the last sample
        self._gone: set[int] = set()  # seen pids that stopped answering: never read again
        self._searched_at: int | None = None  # last_pid() when descendants were last searched
        self.hwm: dict[int, int] = {}  # pid -> the kernel's RSS high-water mark (bytes)
        self._count = 0
        self.device = DeviceMemory()  # GPU memory per process (NVML), when there is one

    def stop(self) -> None:
        self._stop_event.set()

    def latest(self) -> Sample | None:
        return self.samples.latest()

    def run(self) -> None:
        while not self._stop_event.is_set():
            sample = self.sample_once()
            if sample is not None:
                self.samples.append(sample)
            self._stop_event.wait(self._interval)

    def sample_once(self) -> Sample | None:
        """Read every live process of the tree (None when none is left)."""
        self.search()
        readings = {}
        for pid in [p for p in list(self.seen) if p not in self._gone]:
            reading = self._read(pid)
            if reading is None:
                self._gone.add(pid)  # exited, a zombie, or its pid now names another process
            else:
                readings[pid] = reading
        self._alive = set(readings)
        if not readings:
            return None
        self._count += 1
        if self._count % HWM_EVERY == 1:
            self.read_hwm()
        values = readings.values()
        return Sample(time.monotonic(), tree_rss(readings),
                      sum(r.cpu_s for r in values), len(readings),
                      any(r.compiling for r in values), sum(r.runnable for r in values),
                      self.device.used(list(readings)))

    def read_hwm(self) -> None:
        """Keep each live process's kernel high-water mark (Linux VmHWM): exact where the
        20 Hz samples can miss a short peak, and free of any double count."""
        for pid in self._alive:
            mark = high_water_mark(pid) if LINUX else None
            if mark is not None:
                self.hwm[pid] = max(mark, self.hwm.get(pid, 0))

    def search(self) -> None:
        """Add the tree's processes not seen yet to `seen`.

        A full search reads every process on the machine (80% of a sample's cost,
        benchmarks/RESULTS.md), so it is done once; later searches look only at processes
        created since the last one (pids handed out after its `last_pid`), and at none while
        no process was created."""
        stamp, since = last_pid(), self._searched_at
        if stamp is not None and stamp == since:
            return
        if stamp is None or since is None:
            try:
                root = psutil.Process(self._root)
                found = [root.pid, *(p.pid for p in root.children(recursive=True))]
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                return
        else:
            found = created_children(self._alive | {self._root}, since, stamp)
        for pid in found:
            if pid not in self.seen or pid in self._gone:  # new, or a gone one's pid reused
                self._add(pid)
        self._searched_at = stamp

    def _read(self, pid: int) -> Reading | None:
        if LINUX:
            return read_proc(pid, self._starts.get(pid))
        return read_psutil(pid, self.seen[pid])

    def _add(self, pid: int) -> None:
        try:
            created = psutil.Process(pid).create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return
        self._starts[pid] = start_ticks(pid) if LINUX else None
        self.seen[pid] = created
        self._gone.discard(pid)

    def alive_pids(self) -> list[int]:
        """The pids that answered the last sample (the root first when it did)."""
        alive = self._alive
        return sorted(alive, key=lambda pid: (pid != self._root, pid))

    def known_alive(self) -> list[psutil.Process]:
        """Processes seen earlier that still exist with the same start time (no pid reuse)."""
        return still_running(dict(self.seen))


def tree_rss(readings: dict[int, Reading]) -> int:
    """The tree's RSS without counting a page twice where it can be told: a process that
    forked and has not exec'd yet (PF_FORKNOEXEC: a vfork/posix_spawn child of `popen`
    before its exec, a fork() worker) shares its parent's pages, and its RSS counts them
    again. Measured cause of a false `compare` failure: MLX's CPU backend starts its
    compiler through popen; under load the spawned child's window before exec stretches to
    tens of ms and a 20 Hz sample caught parent + child = twice the process (+39 MB).
    Such a child adds only what it holds beyond its parent's RSS."""
    total = 0
    for reading in readings.values():
        parent = readings.get(reading.ppid) if reading.forked else None
        total += max(0, reading.rss - parent.rss) if parent is not None else reading.rss
    return total


def high_water_mark(pid: int) -> int | None:
    """VmHWM of /proc/<pid>/status in bytes (None when gone or a kernel thread)."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(b"VmHWM:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) > 1 and parts[1].isdigit() else None
    return None


def last_pid() -> int | None:
    """The pid most recently given to a new process or thread (Linux: the last field of
    /proc/loadavg); unchanged means nothing was created. None where it cannot be read (and
    with the /proc path switched off: a full search each time, as on macOS)."""
    if not LINUX:
        return None
    try:
        return int(_read("/proc/loadavg").split()[-1])
    except (ValueError, IndexError):
        return None


def created_children(parents: set[int], since: int, now: int) -> list[int]:
    """Processes created after the `last_pid` stamp `since` up to `now` whose parent is in
    `parents` or among those found (a grandchild started meanwhile). Pids are handed out in
    increasing order, wrapping at the maximum, so only /proc/<pid>/stat of pids in that
    window are read, oldest first."""
    def fresh(pid: int) -> bool:
        return since < pid <= now if now >= since else (pid > since or pid <= now)

    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    family, found = set(parents), []
    for pid in sorted((p for p in pids if fresh(p)), key=lambda p: (p <= since, p)):
        if parent_pid(pid) in family:
            family.add(pid)
            found.append(pid)
    return found


def parent_pid(pid: int) -> int | None:
    """The parent's pid from /proc/<pid>/stat; None when the process is gone."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return int(fields[1]) if len(fields) > 1 else None


def read_proc(pid: int, start: int | None) -> Reading | None:
    """A process from one read of /proc/<pid>/stat, and its threads' states. None when it
    is gone, a zombie, or not the process first seen under that pid (its start differs)."""
    text = _read(f"/proc/{pid}/stat")
    fields = _after_name(text)
    if len(fields) < 22 or fields[0] == b"Z" or int(fields[19]) != start:
        return None
    name = text[text.index(b"(") + 1:text.rindex(b")")].decode(errors="replace")
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return Reading(int(fields[21]) * PAGE_BYTES, cpu_s, name in COMPILERS,
                   runnable_threads(pid), int(fields[1]), bool(int(fields[6]) & PF_FORKNOEXEC))


def read_psutil(pid: int, created: float) -> Reading | None:
    """The same through psutil (not Linux): the process state stands for its threads'."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            if proc.create_time() != created or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            times = proc.cpu_times()
            return Reading(proc.memory_info().rss, times.user + times.system,
                           proc.name() in COMPILERS,
                           int(proc.status() == psutil.STATUS_RUNNING), proc.ppid())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (Linux), None when it is gone."""
    fields = _stat_fields(f"/proc/{pid}/stat")
    return int(fields[19]) if len(fields) > 19 else None


def runnable_threads(pid: int) -> int:
    """Threads of the process in state R (on a core or queued for one), from each thread's
    /proc/<pid>/task/<tid>/stat: a process whose main thread waits while a worker thread
    computes (MLX evaluates on a stream thread) still counts as busy, and a busy process
    starved of CPU by other load still counts as busy (its CPU time alone would look idle)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    count = 0
    for tid in tasks:
        fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
        count += bool(fields) and fields[0] == b"R"
    return count


def _stat_fields(path: str) -> list[bytes]:
    """The fields of a /proc .../stat file after the "(name)" field ([] when unreadable):
    [0] state, [1] ppid, [11] utime, [12] stime, [19] starttime, [21] rss pages."""
    return _after_name(_read(path))


def _after_name(text: bytes) -> list[bytes]:
    close = text.rfind(b")")
    return text[close + 2:].split() if close >= 0 else []


def _read(path: str) -> bytes:
    """A small /proc file's bytes (b"" when it cannot be read): plain os calls, as this runs
    20 times a second per process and thread."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""
    finally:
        os.close(fd)
