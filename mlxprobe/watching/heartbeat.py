"""Heartbeat bookkeeping of one watched process, fed by the record and output reader threads.

Job: keep the records, the arrival times of progress (a `step` record from any source, a
`progress` record from output or a trainer's callback), the time of the last output line (a
watched program that prints is alive), compiler time since the last beat, and which
processes armed their stack dump. The watchdog reads it on the runner's thread.

A distributed job's records carry their rank: each rank's heartbeats are kept apart, and the
job's pace is its slowest live rank's (the rank whose last heartbeat is oldest; a rank that
ended is out of the race), so a straggler that progresses is not a hang.

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
        self._rank_beats: dict[int, list[float]] = {}
        self._rank_pids: dict[int, int] = {}
        self._ended: set[int] = set()
        self._lock = threading.Lock()

    def add(self, record: dict) -> None:
        with self._lock:
            self.records.append(record)
            kind = record.get("kind")
            rank = record.get("rank")
            if kind in BEAT_KINDS:
                self.beats.append(record["t"])
                if isinstance(rank, int):
                    self._rank_beats.setdefault(rank, []).append(record["t"])
                self.compile_s = 0.0
                self._last_step = int(record.get("step", self._last_step + 1))
            elif kind == START and isinstance(record.get("pid"), int):
                if record.get("stacks"):
                    self._armed.append(record["pid"])
                if isinstance(rank, int):
                    self._rank_pids[rank] = record["pid"]
                    self._rank_beats.setdefault(rank, [])
        if self.on_record is not None:
            self.on_record(record)

    def output_seen(self, t: float) -> None:
        with self._lock:
            self._last_output = t

    def alive_at(self, t: float) -> None:
        """Progress seen another way (the stacks moved): the stall clock restarts at `t`."""
        self.output_seen(t)

    def rank_pids(self) -> dict[int, int]:
        """rank -> pid, from the ranks' start records."""
        with self._lock:
            return dict(self._rank_pids)

    def rank_ended(self, rank: int) -> None:
        """The rank's process has ended: it is out of the pace."""
        with self._lock:
            self._ended.add(rank)

    def _paced(self) -> list[float]:
        """The heartbeat times that set the pace: the slowest live rank's, else all."""
        live = [b for r, b in self._rank_beats.items() if r not in self._ended]
        if not live:
            return self.beats
        return min(live, key=lambda b: (len(b) > 0, b[-1] if b else 0.0))

    def beat_count(self) -> int:
        with self._lock:
            return len(self._paced())

    def intervals(self, last: int | None = None) -> list[float]:
        """Seconds between heartbeats, the first counted from the start. With `last`, only
        the last `last` of them once there are more (the watchdog reads a recent window;
        a child beating 40 000 times a second must not cost O(steps) per tick)."""
        with self._lock:
            beats = self._paced()
            if last is not None and len(beats) > last:
                times = beats[-(last + 1):]
            else:
                times = [self.started, *beats]
        return [b - a for a, b in zip(times, times[1:])]

    def last_beat(self) -> float | None:
        """The last sign of progress: a heartbeat, or for a watched program an output line."""
        with self._lock:
            paced = self._paced()
            beat = paced[-1] if paced else None
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
