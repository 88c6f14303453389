"""The sampler finds every process of the tree, including ones started after it began, while
it skips the machine-wide search for descendants when no process was created."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from mlxprobe.sampler import Sampler, last_pid, runnable_threads

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux /proc")

LATE_GRANDCHILD = ("import subprocess, sys, time; time.sleep(0.5); "
                   "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                   "print(p.pid, flush=True); time.sleep(30)")


def test_last_pid_moves_when_a_process_starts():
    before = last_pid()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert before is not None and last_pid() != before


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


def test_runnable_threads_sees_a_spinning_process():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        sampler = Sampler(spin.pid)
        time.sleep(0.3)
        proc = sampler.tree()[0]
        counts = [runnable_threads(proc) for _ in range(20)]
        assert max(counts) >= 1
    finally:
        spin.kill()
        spin.wait()
