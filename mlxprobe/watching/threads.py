"""CPU by thread: which threads of a process burn the CPU while it stalls.

Job: read every thread's CPU time of some processes twice, GAP_S apart, and give each
thread's cores over that gap (its name too, where the OS tells it). A rank waiting in a
collective shows a main thread at ~0 cores beside a communication thread that polls its
socket (measured: mlx's ring backend, about 0.1-0.5 cores here): the process is not
computing, its main thread is waiting.

psutil and /proc only. Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil

GAP_S = 0.5


def thread_times(pid: int) -> dict[int, float]:
    try:
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    except (psutil.Error, OSError):
        return {}


def _name(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_split(pids: list[int], gap_s: float = GAP_S) -> dict[int, list[dict]]:
    """pid -> its threads, busiest first: {"tid", "name", "main", "cores"}."""
    before = {pid: thread_times(pid) for pid in pids}
    time.sleep(gap_s)
    return {pid: cores_between(pid, before[pid], gap_s) for pid in pids}


def cores_between(pid: int, before: dict[int, float], gap_s: float) -> list[dict]:
    """Each thread's cores since `before` (its `thread_times`, `gap_s` ago), busiest first."""
    rows = [{"tid": tid, "name": _name(pid, tid), "main": tid == pid,
             "cores": round(max(0.0, t - before.get(tid, t)) / gap_s, 3)}
            for tid, t in thread_times(pid).items()]
    return sorted(rows, key=lambda r: -r["cores"])
