"""The record writer of one process: JSON lines to the record pipe, fast heartbeats packed.

Job: write each record as one JSON line at once, except a step record that comes less than
COALESCE_S after the last write: it waits (never longer than COALESCE_S) in a
`packing.Pack` with the steps after it, and they go out as one `beats` line, written by
whichever comes first: a record of another kind (written after them, so the order of
records is kept), a full pack, `flush` (at exit) or the flusher thread. So a loop beating
20,000 times a second costs the parent about one line per COALESCE_S, not one per step,
while the steps of a real training loop, slower than COALESCE_S, are each written as they
come.

`later` is for the `watch` agent's heartbeats, counted inside the program's own
`Optimizer.update` and `mx.eval`: the calling thread only appends (the time, the fields) to
a queue, and the flusher thread makes and writes the record, mostly while MLX evaluates (MLX
releases the GIL in `mx.eval`). Measured inside the tiny-LM loop, where MLX's work leaves the
caches cold for the next Python line (`benchmarks/bench_watch.py`): with the record made and
written in the loop's thread the agent's own work was ~150 us a step; queued, ~60 us (0.34%
of an 18 ms step). The flusher wakes every
COALESCE_S while the process lives, so a queued step is written within that.

A write that fails (the parent is gone) stops the writer; nothing raises into the program.
After a fork the child process starts with nothing held and no flusher (it makes its own).
A process killed outright (SIGKILL, a crash in C, `os._exit`) loses the steps it held: at
most COALESCE_S of them, the last ones before its end.

Must not import: mlx, the watching side.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import IO

from ..packing import Pack, row_of, shape_of

COALESCE_S = 0.05  # a held step waits at most this long (deadlines are 1.5 s and more)
Maker = Callable[[float, dict], dict]  # (time, fields) -> the step record


class Writer:
    """Lines to one stream; step records held and packed while they come fast."""

    def __init__(self, stream: IO[str] | None, make: Maker | None = None) -> None:
        self._stream = stream
        self._make = make  # how `later` steps become records
        self._cond = threading.Condition()
        self._pack: Pack | None = None
        self._later: deque[tuple[float, dict]] = deque()  # steps queued by `later`
        self._written = -COALESCE_S  # monotonic time of the last write
        self._flusher: threading.Thread | None = None
        if stream is not None:
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forked(ref))
            atexit.register(_flush_at_exit, ref)

    @property
    def active(self) -> bool:
        return self._stream is not None

    def record(self, record: dict) -> None:
        """Write a record now, after any held or queued steps."""
        line = json.dumps(record, allow_nan=False) + "\n"
        with self._cond:
            self._take_later()
            self._flush()
            self._write(line)

    def beat(self, record: dict) -> None:
        """Write a step record now, or hold it when the last write was under COALESCE_S ago."""
        with self._cond:
            self._take_later()
            self._step(record)

    def later(self, sent: float, fields: dict) -> None:
        """Queue a step (its time and fields, plain values only) for the flusher thread to
        make and write: the calling thread does no more than this append."""
        self._later.append((sent, fields))  # deque.append: atomic, no lock
        if self._flusher is None:
            with self._cond:
                self._wake()

    def flush(self) -> None:
        with self._cond:
            self._take_later()
            self._flush()

    def _take_later(self) -> None:
        while self._later and self._make is not None:
            self._step(self._make(*self._later.popleft()))

    def _step(self, record: dict) -> None:
        if self._pack is None and time.monotonic() - self._written >= COALESCE_S:
            self._write(json.dumps(record, allow_nan=False) + "\n")
        else:
            self._hold(record)

    def _hold(self, record: dict) -> None:
        shape = shape_of(record)
        if shape is None:  # a shape no pack can hold: written on its own, in order
            self._flush()
            self._write(json.dumps(record, allow_nan=False) + "\n")
            return
        row = row_of(record, shape)
        size = len(json.dumps(row, allow_nan=False)) - 2  # its values, without brackets
        if self._pack is not None and (self._pack.shape != shape or not self._pack.fits(size)):
            self._flush()
        if self._pack is None:
            self._pack = Pack(shape)
            self._wake()
        self._pack.add(row, size)

    def _flush(self) -> None:
        pack, self._pack = self._pack, None
        for line in pack.lines() if pack is not None else ():
            self._write(line)  # a write each: each is atomic on a pipe

    def _write(self, line: str) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(line)
        except (OSError, ValueError):
            self._stream = None  # the parent is gone: stop recording, keep training
        self._written = time.monotonic()

    def _wake(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flushing, name="mlxprobe-beats",
                                             daemon=True)
            self._flusher.start()
        self._cond.notify()

    def _flushing(self) -> None:
        """The flusher thread: makes and writes queued steps, and writes a held pack once
        COALESCE_S has passed since the last write; it looks at least every COALESCE_S."""
        with self._cond:
            while self._stream is not None:
                self._take_later()
                delay = self._written + COALESCE_S - time.monotonic()
                if self._pack is not None and delay <= 0:
                    self._flush()
                else:
                    self._cond.wait(delay if self._pack is not None else COALESCE_S)

    def _reset_after_fork(self) -> None:
        self._cond = threading.Condition()
        self._pack = None
        self._later = deque()
        self._flusher = None


def _forked(ref: weakref.ref[Writer]) -> None:
    writer = ref()
    if writer is not None:
        writer._reset_after_fork()


def _flush_at_exit(ref: weakref.ref[Writer]) -> None:
    writer = ref()
    if writer is not None:
        writer.flush()
