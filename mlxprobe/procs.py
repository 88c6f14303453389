"""Process cleanup: end a child's whole tree, SIGTERM first, SIGKILL after a grace period.

Job: the harness never leaves a process behind. It signals the child's process group (the
child is started in a new session, so its pgid is its pid) and every other pid the sampler
saw in the tree (grandchildren that called setsid, or were re-parented), checking start
times so a recycled pid is never signalled.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

POLL_S = 0.02


def _alive(pids: dict[int, float]) -> list[psutil.Process]:
    """The processes among `pids` (pid -> create_time) that still run (zombies excluded)."""
    alive = []
    for pid, created in pids.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return alive


def signal_all(pgid: int, procs: list[psutil.Process], sig: int) -> None:
    """Send `sig` to the process group and to each process (they may have left the group)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            continue


def wait_gone(pids: dict[int, float], timeout_s: float) -> list[psutil.Process]:
    """Wait until none of `pids` runs or the timeout passes; the ones still running."""
    end = time.monotonic() + timeout_s
    alive = _alive(pids)
    while alive and time.monotonic() < end:
        time.sleep(POLL_S)
        alive = _alive(pids)
    return alive


def end_tree(pgid: int, pids: dict[int, float], grace_s: float) -> list[int]:
    """TERM the tree, KILL what is left after `grace_s`; the pids that survived even that."""
    signal_all(pgid, _alive(pids), signal.SIGTERM)
    left = wait_gone(pids, grace_s)
    if left or _group_exists(pgid):
        signal_all(pgid, left, signal.SIGKILL)
        left = wait_gone(pids, 2.0)
    return [p.pid for p in left]


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
