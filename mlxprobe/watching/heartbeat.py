"""Heartbeat bookkeeping of one watched process, fed by the record and output reader threads.

Job: keep the records (in a bounded `RecordStore`), the count of heartbeats (a `step` record
from any source, a `progress` record from output or a trainer's callback) and the arrival
times of the last RECENT_BEATS of them (the watchdog reads only its window of recent
intervals), the time of the last output line (a watched program that prints is alive),
compiler time since the last beat, and which processes armed their stack dump. The watchdog
reads it on the runner's thread. Memory does not grow with the run.

A distributed job's records carry their rank: each rank's heartbeats are kept apart (a
`Lane` each, bounded alike), and the job's pace is its slowest live rank's (the rank whose
last heartbeat is oldest; a rank that ended is out of the race), so a straggler that
progresses is not a hang.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from ..packing import Block
from ..protocol import END, EXITING, PROGRESS, START, STEP
from .store import RecordStore

BEAT_KINDS = frozenset({STEP, PROGRESS})
RECENT_BEATS = 4096  # arrival times kept: the watchdog's window (50 by default) and more


class Lane:
    """The heartbeats of one rank (or of the whole job): a count and the latest times, never
    decreasing. A packed step's time is when the child wrote it (its clock), a printed step's
    when its line arrived; one that comes in after a later one counts as at that later time,
    so the stall clock never goes back and no interval is negative."""

    def __init__(self) -> None:
        self.times: deque[float] = deque(maxlen=RECENT_BEATS)
        self.count = 0
        self.first: float | None = None  # the first heartbeat's time (never forgotten)

    def add(self, t: float) -> None:
        self.extend([t])

    def extend(self, times: list[float]) -> None:
        if self.times and times and times[0] < self.times[-1]:
            floor = self.times[-1]
            times = [max(t, floor) for t in times]
        if self.first is None and times:
            self.first = times[0]
        self.times.extend(times)
        self.count += len(times)

    def last(self) -> float | None:
        return self.times[-1] if self.times else None


class Watch:
    """What has been seen so far; every method is safe from any thread."""

    def __init__(self, started: float, on_record: Callable[[dict], None] | None = None,
                 output_counts: bool = False) -> None:
        self.started = started
        self.on_record = on_record  # told of each record as it arrives (live progress)
        self.output_counts = output_counts  # a printed line postpones a stall (watch)
        self.store = RecordStore()
        self.all = Lane()  # every heartbeat of the job
        self.compile_s = 0.0  # compiler time since the last heartbeat
        self._last_output: float | None = None
        self._outputs = 0  # output lines (an extension of a deadline is not one)
        self._last_step = 0
        self._armed: list[int] = []
        self._ranks: dict[int, Lane] = {}
        self._rank_pids: dict[int, int] = {}
        self._ended: set[int] = set()
        self._exiting: dict[int, float] = {}  # pid -> when it said it was shutting down
        self._lock = threading.Lock()

    def add(self, record: dict) -> None:
        self.add_many([record])

    def add_many(self, items: list[dict | Block]) -> None:
        """Records and blocks of step records (`packing.Block`), in arrival order: one
        read's worth."""
        with self._lock:
            self.store.extend(items)
            for item in items:
                if type(item) is Block:
                    self._block(item)
                elif item.get("kind") in BEAT_KINDS:
                    self._beat(item)
                else:
                    self._other(item)
        if self.on_record is not None:
            for item in items:
                for record in item.records() if type(item) is Block else (item,):
                    self.on_record(record)

    def _beat(self, record: dict) -> None:
        self.all.add(record["t"])
        rank = record.get("rank")
        if isinstance(rank, int):
            self._ranks.setdefault(rank, Lane()).add(record["t"])
        self.compile_s = 0.0
        self._last_step = int(record.get("step", self._last_step + 1))

    def _block(self, block: Block) -> None:
        ranks = block.column("rank")
        if ranks is not None and len(set(ranks)) > 1:  # not from one process: one by one
            for record in block.records():
                self._beat(record)
            return
        self.all.extend(block.t)
        if ranks and isinstance(ranks[0], int):
            self._ranks.setdefault(ranks[0], Lane()).extend(block.t)
        self.compile_s = 0.0
        self._last_step = block.last("step")  # checked: an int

    def _other(self, record: dict) -> None:
        kind, rank = record.get("kind"), record.get("rank")
        if kind == START and isinstance(record.get("pid"), int):
            self._started(record, rank)
        elif kind in (EXITING, END) and isinstance(record.get("pid"), int):
            self._exiting[record["pid"]] = record["t"]

    def _started(self, record: dict, rank: object) -> None:
        if record.get("stacks"):
            self._armed.append(record["pid"])
        if isinstance(rank, int):
            self._rank_pids[rank] = record["pid"]
            self._ranks.setdefault(rank, Lane())

    def output_seen(self, t: float) -> None:
        with self._lock:
            self._last_output = t
            self._outputs += 1

    def signs(self) -> tuple[int, int]:
        """(heartbeats, output lines) seen: what the program itself did, unlike `alive_at`."""
        with self._lock:
            return self._paced().count, self._outputs

    def last_output(self) -> float | None:
        """When the last output line arrived (None before any)."""
        with self._lock:
            return self._last_output

    def alive_at(self, t: float) -> None:
        """Progress seen another way (the stacks moved): the stall clock restarts at `t`."""
        with self._lock:
            self._last_output = t

    def rank_pids(self) -> dict[int, int]:
        """rank -> pid, from the ranks' start records."""
        with self._lock:
            return dict(self._rank_pids)

    def rank_ended(self, rank: int) -> None:
        """The rank's process has ended: it is out of the pace."""
        with self._lock:
            self._ended.add(rank)

    def _paced(self) -> Lane:
        """The heartbeats that set the pace: the slowest live rank's, else the job's."""
        live = [lane for r, lane in self._ranks.items() if r not in self._ended]
        if not live:
            return self.all
        return min(live, key=lambda lane: (lane.count > 0, lane.last() or 0.0))

    @property
    def beat_count(self) -> int:
        """Heartbeats of the pace-setting lane (the whole job's for one process)."""
        with self._lock:
            return self._paced().count

    @property
    def beats(self) -> deque[float]:
        """The latest heartbeat times of the pace-setting lane."""
        with self._lock:
            return self._paced().times

    def intervals(self, last: int | None = None) -> list[float]:
        """Seconds between heartbeats, the first counted from the start. With `last`, only
        the last `last` of them once there are more (the watchdog reads a recent window;
        a child beating 40 000 times a second must not cost O(steps) per tick). Only the
        last RECENT_BEATS arrival times are kept: never more intervals than that."""
        with self._lock:
            lane = self._paced()
            beats = lane.times
            if last is not None and lane.count > last:
                n = min(last + 1, len(beats))
                times = [beats[i] for i in range(-n, 0)]
            elif lane.count > len(beats):  # the oldest times are forgotten
                times = list(beats)
            else:
                times = [self.started, *beats]
        return [b - a for a, b in zip(times, times[1:])]

    def last_beat(self) -> float | None:
        """The last sign of progress: a heartbeat, or for a watched program an output line."""
        with self._lock:
            beat = self._paced().last()
            if self.output_counts and self._last_output is not None:
                return max(beat or self._last_output, self._last_output)
            return beat

    def first_beat(self) -> float | None:
        """When the pace-setting lane's first heartbeat came (None before any)."""
        with self._lock:
            return self._paced().first

    def last_step(self) -> int:
        with self._lock:
            return self._last_step

    def armed_pids(self) -> list[int]:
        """Processes that answer stack requests: armed, and not shutting down (a request
        could no longer harm one, but its answer would show shutdown, not the program)."""
        with self._lock:
            return [pid for pid in self._armed if pid not in self._exiting]

    def exiting_since(self) -> float | None:
        """When the last armed process said it was shutting down, once all of them have;
        None while one of them still runs its program (or none ever armed)."""
        with self._lock:
            if not self._armed or any(pid not in self._exiting for pid in self._armed):
                return None
            return max(self._exiting[pid] for pid in self._armed)

    def all_records(self) -> list[dict]:
        """The records kept (every one of a short run), in arrival order."""
        with self._lock:
            return self.store.records()
