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

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .confirm import IO_MOVING

LOOP_S = 300.0
QUIET_S = 120.0
RSS_FLAT = 4 << 20


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
