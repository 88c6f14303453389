"""Heartbeat bookkeeping of one watched process, fed by the record and output reader threads.

Job: keep the records, the arrival times of progress (a `step` record from any source, a
`progress` record from output or a trainer's callback), the time of the last output line (a
watched program that prints is alive), compiler time since the last beat, and which
processes armed their stack dump. The watchdog reads it on the runner's thread.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..protocol import PROGRESS, START, STEP

BEAT_KINDS = frozenset({STEP, PROGRESS})


class Watch:
    """What has been seen so far; every method is safe from any thread."""

    def __init__(self, started: float, on_record: Callable[[dict], None] | None = None,
                 output_counts: bool = False) -> None:
        self.started = started
        self.on_record = on_record  # told of each record as it arrives (live progress)
        self.output_counts = output_counts  # a printed line postpones a stall (watch)
        self.records: list[dict] = []
        self.beats: list[float] = []
        self.compile_s = 0.0  # compiler time since the last heartbeat
        self._last_output: float | None = None
        self._last_step = 0
        self._armed: list[int] = []
        self._lock = threading.Lock()

    def add(self, record: dict) -> None:
        with self._lock:
            self.records.append(record)
            kind = record.get("kind")
            if kind in BEAT_KINDS:
                self.beats.append(record["t"])
                self.compile_s = 0.0
                self._last_step = int(record.get("step", self._last_step + 1))
            elif kind == START and record.get("stacks") and isinstance(record.get("pid"), int):
                self._armed.append(record["pid"])
        if self.on_record is not None:
            self.on_record(record)

    def output_seen(self, t: float) -> None:
        with self._lock:
            self._last_output = t

    def alive_at(self, t: float) -> None:
        """Progress seen another way (the stacks moved): the stall clock restarts at `t`."""
        self.output_seen(t)

    def intervals(self, last: int | None = None) -> list[float]:
        """Seconds between heartbeats, the first counted from the start. With `last`, only
        the last `last` of them once there are more (the watchdog reads a recent window;
        a child beating 40 000 times a second must not cost O(steps) per tick)."""
        with self._lock:
            if last is not None and len(self.beats) > last:
                times = self.beats[-(last + 1):]
            else:
                times = [self.started, *self.beats]
        return [b - a for a, b in zip(times, times[1:])]

    def last_beat(self) -> float | None:
        """The last sign of progress: a heartbeat, or for a watched program an output line."""
        with self._lock:
            beat = self.beats[-1] if self.beats else None
            if self.output_counts and self._last_output is not None:
                return max(beat or self._last_output, self._last_output)
            return beat

    def last_step(self) -> int:
        with self._lock:
            return self._last_step

    def armed_pids(self) -> list[int]:
        with self._lock:
            return list(self._armed)

    def all_records(self) -> list[dict]:
        with self._lock:
            return list(self.records)
