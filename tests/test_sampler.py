"""The sampler finds every process of the tree, including ones started after it began, while
it skips the machine-wide search for descendants when no process was created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from mlxprobe.watching import sampler
from mlxprobe.watching.sampler import (
    Sampler,
    created_children,
    last_pid,
    parent_pid,
    runnable_threads,
)

# The /proc functions themselves only where they are used; the Sampler's tests run on
# whichever path is on (MLXPROBE_NO_PROC=1 takes psutil's, the macOS path: README)
proc_only = pytest.mark.skipif(not sampler.LINUX, reason="reads Linux /proc (switched off "
                               "by MLXPROBE_NO_PROC or not Linux)")

# the child spends 0.1 s of CPU first: a Python that only starts and sleeps has 0.00 or 0.01 s
# of CPU time in clock ticks, and a psutil-path sample read cpu_s 0.0 once under load
LATE_GRANDCHILD = ("import subprocess, sys, time\n"
                   "while time.process_time() < 0.1: pass\n"
                   "time.sleep(0.5)\n"
                   "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
                   "print(p.pid, flush=True); time.sleep(30)")


@proc_only
def test_last_pid_moves_when_a_process_starts():
    before = last_pid()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert before is not None and last_pid() != before


@proc_only
def test_created_children_reads_only_the_window_of_new_pids():
    since = last_pid()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        now = last_pid()
        assert since is not None and now is not None
        assert parent_pid(child.pid) == os.getpid()
        assert child.pid in created_children({os.getpid()}, since, now)
        assert created_children({os.getpid()}, now, now) == []  # nothing new since `now`
        wrapped = max(now, child.pid) + 1  # a window that wraps past the largest pid
        assert child.pid in created_children({os.getpid()}, wrapped, now)
        assert created_children({child.pid}, since, now) == []  # not the child's child
    finally:
        child.kill()
        child.wait()


def test_a_grandchild_started_later_is_seen():
    child = subprocess.Popen([sys.executable, "-c", LATE_GRANDCHILD], stdout=subprocess.PIPE,
                             text=True)
    grandchild = 0
    try:
        sampler = Sampler(child.pid)
        first = sampler.sample_once()
        grandchild = int(child.stdout.readline())
        deadline = time.monotonic() + 10
        sample = first
        while grandchild not in sampler.seen and time.monotonic() < deadline:
            time.sleep(0.05)
            sample = sampler.sample_once()
        assert first is not None and first.procs == 1
        assert grandchild in sampler.seen
        assert sample is not None and sample.procs == 2
        quiet = sampler.sample_once()  # nothing new: the known tree is still sampled
        assert quiet is not None and quiet.procs == 2 and quiet.rss > 0
    finally:
        if grandchild:
            os.kill(grandchild, signal.SIGKILL)
        child.kill()
        child.wait()


@proc_only
def test_runnable_threads_sees_a_spinning_process():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        counts = [runnable_threads(spin.pid) for _ in range(20)]
        assert max(counts) >= 1
        samples = [Sampler(spin.pid).sample_once() for _ in range(5)]
        assert all(s is not None and s.procs == 1 and s.cpu_s > 0 for s in samples)
    finally:
        spin.kill()
        spin.wait()


def test_a_sample_agrees_with_psutil():
    code = ("import time; x = b'1' * (64 * 1024 * 1024); print('ready', flush=True); "
            "time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        # sample once the child says its 64 MB are written: a fixed sleep read a child still
        # starting under load (psutil 59.6 MB, the sample 8 MB apart, soak with load 11)
        assert child.stdout.readline().strip() == "ready"
        sample = Sampler(child.pid).sample_once()
        proc = psutil.Process(child.pid)
        rss, times = proc.memory_info().rss, proc.cpu_times()
        assert sample is not None and sample.procs == 1
        assert abs(sample.rss - rss) < 0.05 * rss and sample.rss > 64 * 1024 * 1024
        assert abs(sample.cpu_s - (times.user + times.system)) <= 0.05
    finally:
        child.kill()
        child.wait()


def test_exited_and_zombie_processes_are_not_counted():
    code = ("import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'pass']); time.sleep(30)")  # never reaped
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        sampler = Sampler(child.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            zombies = [p for p in psutil.Process(child.pid).children()
                       if p.status() == psutil.STATUS_ZOMBIE]
            if zombies:
                break
            sampler.sample_once()
            time.sleep(0.01)
        assert zombies
        sample = sampler.sample_once()
        assert sample is not None and sample.procs == 1
    finally:
        child.kill()
        child.wait()


def test_the_psutil_path_reads_the_same_tree(monkeypatch):
    """The path macOS takes (and MLXPROBE_NO_PROC=1 on Linux): the same tree, RSS and CPU
    through psutil, no /proc read, a full search for descendants each time."""
    monkeypatch.setattr(sampler, "LINUX", False)
    child = subprocess.Popen([sys.executable, "-c", LATE_GRANDCHILD], stdout=subprocess.PIPE,
                             text=True)
    grandchild = 0
    try:
        watcher = Sampler(child.pid)
        assert sampler.last_pid() is None  # no /proc/loadavg stamp: search every time
        grandchild = int(child.stdout.readline())
        time.sleep(0.2)
        sample = watcher.sample_once()
        assert sample is not None and sample.procs == 2 and grandchild in watcher.seen
        assert sample.rss > 0 and sample.cpu_s > 0 and watcher.hwm == {}
    finally:
        for pid in (grandchild, child.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        child.wait()
