"""Run-queue wait: the machine's stall is credited, the watcher's own threads included."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from mlxprobe.watching.starvation import RunQueueWait, most_waited, thread_waits

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux
def test_the_watchers_own_threads_are_read():
    ready, done = threading.Event(), threading.Event()
    reader = threading.Thread(target=lambda: (ready.set(), done.wait(5)))
    reader.start()
    try:
        ready.wait(5)
        mine = {tid for pid, tid in thread_waits([os.getpid()]) if pid == os.getpid()}
        assert reader.native_id in mine and threading.main_thread().native_id in mine
    finally:
        done.set()
        reader.join()


def test_the_longest_single_thread_wait_is_credited_once():
    assert most_waited({(1, 1): 1.0, (1, 2): 0.5}, {(1, 1): 1.2, (1, 2): 1.4, (1, 3): 0.3}) \
        == pytest.approx(0.9)
    waits = RunQueueWait()
    assert waits.credit([os.getpid()]) == 0.0  # no heartbeat yet: nothing to credit from
