"""Process cleanup: end a child's whole tree, SIGTERM first, SIGKILL after a grace period.

Job: the harness never leaves a process behind. It signals the child's process group (the
child is started in a new session, so its pgid is its pid), every other pid the sampler
saw in the tree (grandchildren that called setsid, or were re-parented), and every process
that carries the run's token in its environment (RUN_TOKEN_ENV, set on the child and
inherited by all it starts: this finds a grandchild that left the session and was
re-parented before the sampler ever saw it). Start times are checked so a recycled pid is
never signalled.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from ..protocol import RUN_TOKEN_ENV

POLL_S = 0.02
SWEEP_ROUNDS = 3  # processes forking while they are killed: sweep again, at most this often


def still_running(pids: dict[int, float]) -> list[psutil.Process]:
    """The processes among `pids` (pid -> create_time) that still run (zombies excluded)."""
    running = []
    for pid, created in pids.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return running


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
    left = still_running(pids)
    while left and time.monotonic() < end:
        time.sleep(POLL_S)
        left = still_running(pids)
    return left


def end_tree(pgid: int, pids: dict[int, float], grace_s: float) -> list[int]:
    """TERM the tree, KILL what is left after `grace_s`; the pids that survived even that."""
    signal_all(pgid, still_running(pids), signal.SIGTERM)
    left = wait_gone(pids, grace_s)
    if left or _group_exists(pgid):
        signal_all(pgid, left, signal.SIGKILL)
        left = wait_gone(pids, 2.0)
    return [p.pid for p in left]


def carrying(token: str) -> dict[int, float]:
    """pid -> create_time of the live processes whose environment holds the run `token`.

    Only the user's own processes can be read; a process that cleared its environment
    cannot be found this way (the sampler and the process group still cover it).
    """
    found: dict[int, float] = {}
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_TOKEN_ENV) == token:
                found[proc.pid] = proc.create_time()
        except (psutil.Error, OSError):
            continue
    return found


def end_run(pgid: int, seen: dict[int, float], token: str, grace_s: float) -> list[int]:
    """End everything of one run: the group, the pids seen, the token's carriers; then sweep
    for carriers again (started while the tree was ending) and SIGKILL those. The survivors."""
    left = end_tree(pgid, {**seen, **carrying(token)}, grace_s)
    for _ in range(SWEEP_ROUNDS):
        late = {pid: t for pid, t in carrying(token).items() if pid not in left}
        if not late:
            break
        signal_all(pgid, still_running(late), signal.SIGKILL)
        left += [p.pid for p in wait_gone(late, 2.0)]
    return sorted(set(left))


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
