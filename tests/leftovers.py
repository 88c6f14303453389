"""Helpers of the fault tests: mark a run's processes, then prove none of them is left.

A test puts a unique marker in the child's environment (every descendant inherits it unless
it clears its environment) and, after the run, scans every process on the machine for it. That
check does not trust the harness's own bookkeeping (sampler, process groups, survivors).
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path

import psutil

from mlxprobe.launching.spec import RunSpec

MARK_ENV = "MLXPROBE_TEST_MARK"
PIDFILE_ENV = "MLXPROBE_TEST_PIDFILE"


def new_mark() -> str:
    return uuid.uuid4().hex


def marked(spec: RunSpec, mark: str, pidfile: Path | None = None) -> RunSpec:
    """`spec` whose child carries `mark` (and writes the pids it starts to `pidfile`)."""
    env = [*spec.env, (MARK_ENV, mark)]
    if pidfile is not None:
        env.append((PIDFILE_ENV, str(pidfile)))
    return dataclasses.replace(spec, env=tuple(env))


def marked_env(mark: str, tmp: Path | None = None) -> dict[str, str]:
    """The environment for a subprocess (a CLI run) whose whole tree carries `mark`; with
    `tmp`, its temporary folders go there (a harness a test SIGKILLs cannot remove its own
    runner folder: under the test's tmp_path, pytest does)."""
    env = {**os.environ, MARK_ENV: mark}
    return {**env, "TMPDIR": str(tmp)} if tmp is not None else env


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def carrying(mark: str) -> list[int]:
    """Pids of live processes (zombies excluded) whose environment holds `mark`."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK_ENV) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def left_after(mark: str, wait_s: float = 0.0) -> list[int]:
    """The marked processes still alive after waiting up to `wait_s` for them to go."""
    end = time.monotonic() + wait_s
    alive = carrying(mark)
    while alive and time.monotonic() < end:
        time.sleep(0.05)
        alive = carrying(mark)
    return alive


def pids_in(pidfile: Path) -> list[int]:
    return [int(line) for line in pidfile.read_text().split()] if pidfile.exists() else []


def kill_marked(mark: str) -> None:
    """Test cleanup: SIGKILL whatever carries `mark` (so a failing test leaves nothing)."""
    for pid in carrying(mark):
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            continue
