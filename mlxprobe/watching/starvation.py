"""Time the watched tree spent waiting for a core: the machine's stall, not the program's.

Job: on an overloaded machine a runnable thread waits on the kernel's run queue; a step that
took 2 s because its thread got the CPU for 0.1 s of them is not a hang. Linux counts that
wait per thread (`/proc/PID/task/TID/schedstat`, second field: nanoseconds spent runnable
but waiting on a run queue). `RunQueueWait` keeps those counters at the last heartbeat, and
on a missed deadline says how long the most-waiting thread of the tree has waited since:
that much of the stall is the machine's, and the runner does not count it (as it does not
count a compiler's time). The runner's own threads count too: a record reader that waits
for a core leaves the child's heartbeats unread, and the deadline would be missed on the
watcher's stall (soak, 2 hogs and load ~8: `hang` after 1.2 s of a 1.0 s deadline on a
child stepping 10,000 times a second, whose own wait was 0.0 s). A real hang is still
called: an idle deadlock has no runnable thread, so nothing waits on a run queue; a busy one
runs whenever it gets a core, so its deadline is paced in the time it could run.

Measured (2026-11-23, 2 cores, load average 14-20 from parallel test runs): two catalogue
variants were called `hang:cpu_busy` with "CPU at 0.00 cores, a thread runnable in 100% of
samples" after 1.5 s without a step; a Python busy loop of 0.5 s wall got 0.11 s of CPU and
0.40 s of run-queue wait in the same minute.

Elsewhere (macOS: no /proc) nothing is read and nothing is credited: the deadlines are wall
clock, as before. Written by hand: psutil does not expose run-queue wait.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def thread_waits(pids: list[int]) -> dict[tuple[int, int], float]:
    """Seconds each thread of `pids` has waited on a run queue since it started."""
    out: dict[tuple[int, int], float] = {}
    for pid in pids:
        try:
            tasks = list((PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            waited = _waited(task / "schedstat")
            if waited is not None:
                out[(pid, int(task.name))] = waited
    return out


def _waited(path: Path) -> float | None:
    try:
        fields = path.read_text().split()
    except (OSError, ValueError):
        return None
    return int(fields[1]) / 1e9 if len(fields) >= 2 and fields[1].isdigit() else None


def most_waited(before: dict[tuple[int, int], float],
                after: dict[tuple[int, int], float]) -> float:
    """The longest any one thread waited between two readings (a thread born since counts
    from 0)."""
    return max((after[key] - before.get(key, 0.0) for key in after), default=0.0)


class RunQueueWait:
    """Run-queue wait of the tree since its last heartbeat (see the module docstring)."""

    def __init__(self) -> None:
        self.base: dict[tuple[int, int], float] = {}
        self.base_beats = -1
        self.credited_s = 0.0  # credited since the last heartbeat
        self.total_s = 0.0  # credited in all

    def on_tick(self, beats: int, pids: Callable[[], list[int]]) -> None:
        """Re-reads the counters when a heartbeat came since the last tick (at most once a
        tick, never per step)."""
        if beats != self.base_beats:
            self.base, self.base_beats, self.credited_s = thread_waits(pids()), beats, 0.0

    def credit(self, pids: list[int]) -> float:
        """Seconds of run-queue wait since the last heartbeat not yet credited (0 where
        nothing can be read); they are credited now."""
        if self.base_beats < 0:
            return 0.0
        new = max(0.0, most_waited(self.base, thread_waits(pids)) - self.credited_s)
        self.credited_s += new
        self.total_s += new
        return new
