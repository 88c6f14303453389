"""What every process of the tree is doing, read from outside: working or waiting, since when.

Job: a look at each process of the tree (Linux: /proc/PID/stat, every thread's
/proc/PID/task/TID/stat, /proc/PID/io; elsewhere psutil) gives its CPU seconds, its threads'
states, its I/O bytes (read and written by system calls: files, pipes, sockets) and its RSS.
Against the previous look, the tree was *working* when any of: CPU above IDLE_CORES, a
thread running or queued for a core (R) or in a disk wait (D) at two looks in a row, a
compiler process (g++, cc1plus: MLX's CPU backend JIT), IO_BYTES of I/O, RSS moving by
RSS_BYTES, a process started or ended, an output line. Otherwise every thread of every
process was asleep (a futex, a pipe, `waitpid`, a socket with no bytes, a sleep): the tree
was *idle*. `Activity` keeps when the tree was last
working (the start-up idle deadline reads it) and each process's recent looks (what it did in
the last seconds, for an interrupted run's report); `processes()` describes each, with the
kernel's wait channel of each sleeping thread (/proc/PID/task/TID/wchan: futex_wait_queue,
pipe_read, do_wait, sk_wait_data, hrtimer_nanosleep...).

Why by hand: psutil reads the same files but several per process and thread (psutil.Process
.threads() gives no states); the sampler (`sampler`) keeps tree totals only, not what each
process does. Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass

import psutil

from .sampler import CLOCK_TICKS, COMPILERS, LINUX, PAGE_BYTES, _after_name, _read

# Thresholds of "working", per look (every 0.25 s under watch) and why:
# - IDLE_CORES 0.05: a sleeping thread costs 0 ticks; one clock tick (10 ms) in a 0.25 s look
#   is 0.04 cores, a wake-up of a timer thread, not work. Any computing thread is ~1 core, or
#   R when it is starved of one (the state check).
# - IO_BYTES 4 KiB: what a program's own writes of a line or two cost; a data read, a
#   download, a checkpoint moves MBs. Our own record channel writes count (the bootstrap
#   writes only when the program does something).
# - RSS_BYTES 256 KiB: a program loading weights or building a dataset grows by MBs; an
#   idle process's RSS does not move at all.
IDLE_CORES = 0.05
# the CPU rate of a look is taken over at least RATE_GAP_S: a look forced sooner (the one an
# interruption takes at once, `runner.diagnose`) would read one stray tick as work (10 ms in
# 50 ms: 0.2 cores), restart the idle clock and call a sleeping tree "still starting up" (a
# full `pytest -n 2` run: test_startup_idle's Ctrl-C test, stops 52, 82 and 95). A thread that
# computes through such a gap still passes: 50 ms of CPU is 0.2 cores over 0.25 s.
RATE_GAP_S = 0.25
IO_BYTES = 4096
RSS_BYTES = 256 * 1024
RECENT_S = 10.0  # what each process did in the last seconds (an interrupted run's report)
IDLE_VIEW_S = 1.0  # a tree asleep this long is described over its sleep, not RECENT_S
BUSY_STATES = frozenset({"R", "D"})
MAX_THREADS = 64  # threads read per process (wait channels, the description)


@dataclass(frozen=True)
class ProcLook:
    """One process at one moment."""

    t: float
    pid: int
    ppid: int
    name: str
    cpu_s: float
    rss: int
    io: int | None  # bytes read + written by system calls; None where it cannot be read
    states: str  # one letter per thread: R running, S asleep, D disk wait, ...

    @property
    def compiling(self) -> bool:
        return self.name in COMPILERS


def look(pid: int) -> ProcLook | None:
    """The process now (None when it is gone or a zombie)."""
    return _look_proc(pid) if LINUX else _look_psutil(pid)


def _look_proc(pid: int) -> ProcLook | None:
    text = _read(f"/proc/{pid}/stat")
    fields = _after_name(text)
    if len(fields) < 22 or fields[0] == b"Z":
        return None
    name = text[text.index(b"(") + 1:text.rindex(b")")].decode(errors="replace")
    return ProcLook(time.monotonic(), pid, int(fields[1]), name,
                    (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                    int(fields[21]) * PAGE_BYTES, io_bytes(pid), thread_states(pid))


def _look_psutil(pid: int) -> ProcLook | None:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            status = proc.status()
            if status == psutil.STATUS_ZOMBIE:
                return None
            times = proc.cpu_times()
            state = "R" if status == psutil.STATUS_RUNNING else "S"
            return ProcLook(time.monotonic(), pid, proc.ppid(), proc.name(),
                            times.user + times.system, proc.memory_info().rss, None, state)
    except (psutil.Error, OSError):
        return None


def io_bytes(pid: int) -> int | None:
    """rchar + wchar of /proc/PID/io (every read and write system call, sockets included)."""
    total, found = 0, False
    for line in _read(f"/proc/{pid}/io").splitlines():
        if line.startswith((b"rchar:", b"wchar:")):
            total += int(line.split()[1])
            found = True
    return total if found else None


def thread_states(pid: int) -> str:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")[:MAX_THREADS]
    except OSError:
        return ""
    states = []
    for tid in tasks:
        fields = _after_name(_read(f"/proc/{pid}/task/{tid}/stat"))
        if fields:
            states.append(fields[0].decode())
    return "".join(states)


def worked(before: ProcLook | None, after: ProcLook) -> list[str]:
    """What the process did between two looks (empty: nothing, it slept)."""
    if before is None:
        return ["compiling"] * after.compiling + ["started"]
    # a thread R (or D) at two looks in a row: a wake-up of a sleeping thread is R for a
    # moment (longer on a loaded machine, queued for a core), a busy or starved one stays R
    running = bool(set(after.states) & BUSY_STATES) and bool(set(before.states) & BUSY_STATES)
    did = [word for word, yes in (("compiling", after.compiling), ("running", running)) if yes]
    gap = max(after.t - before.t, RATE_GAP_S)
    if (after.cpu_s - before.cpu_s) / gap > IDLE_CORES:
        did.append("cpu")
    if after.io is not None and before.io is not None and after.io - before.io >= IO_BYTES:
        did.append("io")
    if abs(after.rss - before.rss) >= RSS_BYTES:
        did.append("memory")
    return did


class Activity:
    """The tree's looks over time: when it last worked, and each process's recent looks."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.last_active = started  # the start counts as work: the idle clock starts there
        self.looks = 0
        self._recent: dict[int, deque[tuple[ProcLook, tuple[str, ...]]]] = {}
        self._alive: set[int] = set()
        self._looked: float | None = None  # when the last look was taken
        self.last_work = ""  # what the last work seen was: "pid 12 (python): cpu"

    def look(self, pids: list[int], output_at: float | None = None) -> bool:
        """Look at the live processes `pids` of the tree; True when the tree worked since
        the last look (a process started or ended, an output line after the last look)."""
        now, active = time.monotonic(), False
        seen = {}
        for pid in pids:
            found = look(pid)
            if found is not None:
                seen[pid] = found
        for pid, now_look in seen.items():
            history = self._recent.setdefault(pid, deque())
            did = tuple(worked(history[-1][0] if history else None, now_look))
            history.append((now_look, did))
            while history and now - history[0][0].t > RECENT_S:
                history.popleft()
            if did:
                active, self.last_work = True, f"pid {pid} ({now_look.name}): {', '.join(did)}"
        ended = self._alive - set(seen)
        previous = self.started if self._looked is None else self._looked
        if ended or (output_at is not None and output_at > previous):
            active, self.last_work = True, "a process ended" if ended else "an output line"
        self._alive, self._looked = set(seen), now
        self.looks += 1
        if active or not seen:
            self.last_active = now
        return active

    def saw_work(self) -> None:
        """Work seen another way (the stacks moved, a compiler frame): the idle clock
        restarts now."""
        self.last_active = time.monotonic()

    def idle_s(self, now: float | None = None) -> float:
        """Seconds every process of the tree has slept (0 while it works)."""
        return max(0.0, (now or time.monotonic()) - self.last_active)

    def processes(self, now: float | None = None) -> list[dict]:
        """Each live process of the tree: what it did over the last RECENT_S seconds, or,
        once the whole tree has slept IDLE_VIEW_S or more, over that sleep (the work before
        it is not what the tree does now: a worker that took 2 s to start under load and
        then slept 3 s is waiting, not busy)."""
        now = now or time.monotonic()
        idle = self.idle_s(now)
        horizon = idle if IDLE_VIEW_S <= idle < RECENT_S else RECENT_S
        return [describe(list(self._recent[pid]), now, now - horizon)
                for pid in sorted(self._alive) if self._recent.get(pid)]


def within(history: list[tuple[ProcLook, tuple[str, ...]]],
           since: float) -> list[tuple[ProcLook, tuple[str, ...]]]:
    """The looks taken at or after `since`; the last look when none was."""
    kept = [entry for entry in history if entry[0].t >= since]
    return kept or history[-1:]


def describe(history: list[tuple[ProcLook, tuple[str, ...]]], now: float,
             since: float | None = None) -> dict:
    """One process over its recent looks (those from `since` on, when given): what it did
    in most of them (compiling, busy, doing I/O; waiting when most found it asleep), the
    cores it used, how long it has slept since it last did anything (over all its recent
    looks), its RSS, and where its threads wait in the kernel now."""
    worked_at = [look.t for look, words in history if words]
    whole = max(history[-1][0].t - history[0][0].t, 1e-3)
    asleep = now - worked_at[-1] if worked_at else whole
    if since is not None:
        history = within(history, since)
    first, last = history[0][0], history[-1][0]
    span = max(last.t - first.t, 1e-3)
    cores = (last.cpu_s - first.cpu_s) / span if len(history) > 1 else 0.0
    return {"pid": last.pid, "ppid": last.ppid, "name": last.name,
            "doing": _mostly([words for _, words in history[1:]] or [history[0][1]],
                             last.compiling),
            "cores": round(max(cores, 0.0), 3), "over_s": round(span, 1),
            "asleep_s": round(max(asleep, 0.0), 1), "rss_mb": round(last.rss / (1 << 20), 1),
            "threads": len(last.states), "waits": wait_channels(last.pid),
            "command": command(last.pid)}


def _mostly(words: list[tuple[str, ...]], compiling: bool) -> str:
    """What at least half of the looks saw: compiling, busy, doing I/O; else waiting."""
    def share(*kinds: str) -> float:
        return sum(1 for w in words if set(kinds) & set(w)) / len(words)

    if compiling or share("compiling") >= 0.5:
        return "compiling"
    if share("cpu", "running") >= 0.5:
        return "busy"
    if share("io", "memory", "started") >= 0.5:
        return "doing I/O"
    return "waiting"


def wait_channels(pid: int) -> dict[str, int]:
    """Where the threads of a process sleep in the kernel: {"futex_wait_queue": 3, ...};
    {} where it cannot be read (not Linux)."""
    if not LINUX:
        return {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")[:MAX_THREADS]
    except OSError:
        return {}
    found: dict[str, int] = {}
    for tid in tasks:
        channel = _read(f"/proc/{pid}/task/{tid}/wchan").decode(errors="replace").strip()
        fields = _after_name(_read(f"/proc/{pid}/task/{tid}/stat"))
        state = fields[0].decode() if fields else "?"
        key = f"{state} {channel}" if channel and channel != "0" else state
        found[key] = found.get(key, 0) + 1
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


LOOPBACK = ("127.", "::1", "::ffff:127.")


def outside_peers(pids: list[int]) -> list[str]:
    """The tree's network waits on something outside it: "pid -> address" for each TCP/UDP
    socket connected to a peer that is no socket of the tree (a server, a download, a rank
    on another host), and each socket listening on a non-loopback address (a rank 0 waiting
    for remote ranks). A tree asleep on those waits on the world, not on itself: no idle
    hang (the start-up allowance decides). Sockets between processes of the tree are
    internal waits (a deadlock stays a hang)."""
    conns = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found = (proc.net_connections if hasattr(proc, "net_connections")
                     else proc.connections)(kind="inet")
        except (psutil.Error, OSError):
            continue
        conns += [(pid, c) for c in found]
    ours = {(c.laddr.ip, c.laddr.port) for _, c in conns if c.laddr}
    outside = []
    for pid, c in conns:
        if c.raddr and (c.raddr.ip, c.raddr.port) not in ours:
            outside.append(f"{pid} -> {c.raddr.ip}:{c.raddr.port}")
        elif not c.raddr and c.status == psutil.CONN_LISTEN and c.laddr \
                and not c.laddr.ip.startswith(LOOPBACK):
            outside.append(f"{pid} listening on {c.laddr.ip}:{c.laddr.port}")
    return outside


def command(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())[:200]
    except (psutil.Error, OSError):
        return ""
