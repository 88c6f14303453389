"""An endless loop told from a long pass: the stacks of a stall cycle among lines already seen.

Job: a watched program's missed deadline is confirmed by its stacks (`confirm`): a stack that
moves means the program is moving, and the deadline is extended. A loop that never ends but
spans more than one line (`while True:` over a batch iterator that never yields) also moves
its stack, so it would be extended until the run's budget. This keeps, across the
extensions of one stall (no heartbeat, no output since), the main-thread stacks seen, the
tree's RSS and its I/O; the stall is an endless loop once, for LOOP_S, no stack was new for
QUIET_S, RSS stayed within RSS_FLAT and less than IO_MOVING bytes moved. A long pass that
works (a validation pass, a data pass, a save) reads or writes, allocates, prints, beats, or
reaches lines it had not reached: any of those restarts it.

Thresholds and why: LOOP_S = 300 s, five times the longest step deadline a watched loop
usually has (60 s), and longer than any silent pure-Python phase between steps seen in the
catalogue or the corpus (a tokenization pass allocates; a checkpoint writes); QUIET_S = 120 s
without a new stack; RSS_FLAT = 4 MiB (a Python loop that builds anything grows past it).
Measured (failure corpus fresh6, tiny_dataset_batch_hang, mlx-examples PR 680): a batch
iterator over fewer examples than one batch cycles among 3 lines, RSS flat, no I/O.

An endless loop that allocates (a partial batch taken from its bucket and never removed, a
padded copy appended each pass) grows RSS and so never looks endless above; it would run until
the machine's memory is gone (failure corpus fresh20 `bucket_batches_partial_loop`: +32 MB/s,
13.7 GB after 421 s, no output, no I/O, before its first step). So a stall of LOOP_S or more
whose tree RSS rose in each third of it, by GROWN_SHARE of the machine's memory or more in
all, while less than IO_MOVING bytes moved across the confirmation's looks, is held too
(`allocating`). A start-up that loads a model reads it (I/O); one that builds its data in
memory for five silent minutes while taking a quarter of the machine is the case this holds.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psutil

from .confirm import IO_MOVING

LOOP_S = 300.0
QUIET_S = 120.0
RSS_FLAT = 4 << 20
GROWN_SHARE = 0.25  # of the machine's memory, grown during one silent stall of >= LOOP_S
MIN_SAMPLES = 6


@dataclass
class LoopWatch:
    """The current stall's stacks, and RSS and I/O at its start; all start again when the
    program's own signs of progress (`beat`) change."""

    beat: object = None  # the program's own signs of progress (heartbeats, output lines)
    since: float | None = None
    new_at: float = 0.0
    rss: int = 0
    io: int = 0
    stacks: set = field(default_factory=set)

    def endless(self, beat: object, seen: set, now: float, rss: int, io: int) -> bool:
        """After a confirmation that saw the stacks `seen` move: is the stall an endless
        loop (see the module's thresholds)?"""
        if beat != self.beat or self.since is None:
            self.beat, self.since, self.new_at, self.rss, self.io = beat, now, now, rss, io
            self.stacks = set()
        if not seen <= self.stacks:
            self.stacks |= seen
            self.new_at = now
        return (now - self.since >= LOOP_S and now - self.new_at >= QUIET_S
                and abs(rss - self.rss) < RSS_FLAT and io - self.io < IO_MOVING)

    def evidence(self, now: float) -> dict:
        return {"looping_s": round(now - (self.since or now), 1), "distinct_stacks":
                len(self.stacks), "loop_s": LOOP_S, "quiet_s": QUIET_S,
                "rss_flat_mb": RSS_FLAT >> 20}


def allocating(rss: list[tuple[float, int]], io_moved: int,
               memory: int | None = None) -> dict | None:
    """The evidence of a stall that allocates without end (see the module's docstring), from
    the tree's (time, RSS bytes) samples since the stall began; None when it is not one."""
    memory = memory or psutil.virtual_memory().total
    if len(rss) < MIN_SAMPLES or rss[-1][0] - rss[0][0] < LOOP_S or io_moved >= IO_MOVING:
        return None
    grown, span = rss[-1][1] - rss[0][1], rss[-1][0] - rss[0][0]
    if not _rising(rss) or grown < GROWN_SHARE * memory:
        return None
    rate = grown / span
    return {"looping_s": round(span, 1), "allocating": True, "rss_grown_mb": grown >> 20,
            "rss_mb_per_s": round(rate / 2**20, 1), "memory_mb": memory >> 20,
            "memory_left_s": round(max(0, memory - rss[-1][1]) / rate),
            "grown_share": GROWN_SHARE, "loop_s": LOOP_S}


def _rising(rss: list[tuple[float, int]]) -> bool:
    """Each third of the samples holds more on average than the one before."""
    third = len(rss) // 3
    parts = (rss[:third], rss[third:2 * third], rss[2 * third:])
    means = [sum(r for _, r in part) / len(part) for part in parts]
    return means[0] < means[1] < means[2]
