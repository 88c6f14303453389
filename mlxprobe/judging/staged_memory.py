"""Rule unit: memory that stepped with the program's own stages, not a leak.

Job: a curriculum that prints its stage (`stage 1 -> 4`: longer sequences, a new data set
per stage) allocates more at each stage change (the new stage's data held as MLX arrays,
larger graphs), and RSS follows in a stair that settles over the next hundred or more
steps. When the last stage is short, RSS is still settling at the end of the run and the
leak rule's fit calls it a climb; `working_set` does not excuse it, because MLX's active
memory grew too (the new stage's data). This unit does, when all of these hold:
- the program prints a stage counter (`metric_names.stage_counter`) that changed;
- MLX's active memory (the arrays alive between steps) held inside each stage (without
  MARGIN of its steps at either end): the median of its last third within HELD of its first
  third's; it grew only at the stage changes, where an array leak grows within a stage, at
  each step or report;
- RSS held the same way over the second half of each stage but the last (each seen at >= 3
  looks): each stair settled, where a leak kept outside MLX (a Python list of results)
  climbs within every stage.
A leak that starts in the last stage only is not told from settling: the rule then says
nothing (a missed leak costs less than a false one).

Thresholds and why: fresh105 `hike_ascent_gru_curriculum` (correct: a GRU over tracks of 4,
8, 16, then 32 segments for 300/250/200/200 steps, a fresh data set per stage): active
memory 0.90, 1.15, 1.64, 2.62 MB within each stage (with 0.05 MB transients at some looks);
RSS 58.2, 70.9, 91.7 MB held over each stage's second half, then 92 -> 122 MB over the
200-step last stage; the same script with an 800-step last stage settled at 115.5-119.3 MB.
A counter printed only when its stage ends (`stage 1 done: ...`) reports each value at
the stage's last step: its changes are read right after the old value's last report
(fresh343 `hoolock_greatcall_lstm_sgdr`, correct: a CTC curriculum of 16, 24, 32 frames,
`stage N done` at steps 60, 120, 180; RSS 64 -> 92 -> 98-129 MB from steps 61 and 121,
active memory flat at 0.6 MB: read at 120 and 180 the stairs fell inside a stage and it
was `leak:rss`). Of the 490 kept runs (fresh303 on) 23 print a stage counter; only it
reads as printed at ends. HELD = 1% (`working_set`'s held share); MARGIN = 10% of a stage
(RSS's stairs came up to 11 steps before the printed change).

Must not import: mlx, the runner.
"""

from __future__ import annotations

from .. import metric_names
from ..watching.facts import RawResult
from .stats import third_medians

HELD = 0.01
MARGIN = 0.1


def stage_changes(raw: RawResult) -> list[int]:
    """The steps at which a stage counter the program prints took a new value: where the new
    value is first reported, or, for a counter printed at each stage's end (`stage 1 done`),
    right after the old value's last report."""
    reports: dict[str, list[tuple[int, object]]] = {}
    for record in raw.learning:
        for name, value in (record.get("metrics") or {}).items():
            if metric_names.stage_counter(name):
                reports.setdefault(name, []).append((int(record.get("step", 0)), value))
    end = max((int(r.get("step", 0)) for r in raw.learning), default=0)
    return sorted({step for found in reports.values() for step in _changes(found, end)})


def _changes(reports: list[tuple[int, object]], end: int) -> list[int]:
    """One counter's change steps (`stage_changes`). Printed at stage ends: its last value
    reported once, at the run's last report (one printed at starts reports its last stage
    before the run's end, or again there)."""
    at_ends = reports[-1][0] >= end and [v for _, v in reports].count(reports[-1][1]) == 1
    return [(before[0] + 1 if at_ends else now[0]) for before, now in zip(reports, reports[1:])
            if before[1] != now[1]]


def stepped(raw: RawResult, active: list[tuple[int, float]],
            rss: list[tuple[int, float]]) -> dict | None:
    """The evidence that memory grew only with the program's stages, or None."""
    changes = stage_changes(raw)
    if not changes or not active or not rss:
        return None
    bounds = [min(active[0][0], rss[0][0]), *changes, max(active[-1][0], rss[-1][0]) + 1]
    stages = list(zip(bounds, bounds[1:]))
    if any(_held(active, *_inner(a, b)) is False for a, b in stages):
        return None
    settled = [_held(rss, (a + b) / 2, _inner(a, b)[1]) and _held(active, *_inner(a, b))
               for a, b in stages[:-1]]
    if not all(settled):
        return None  # every stage but the last seen settled, at >= 3 looks each
    return {"stage_changes": changes, "held": HELD, "margin": MARGIN}


def _inner(start: int, end: int) -> tuple[float, float]:
    """A stage's steps without MARGIN of them at either end (memory is sampled from outside
    and the program prints its stage a few steps after it began)."""
    return start + MARGIN * (end - start), end - MARGIN * (end - start)


def _held(points: list[tuple[int, float]], start: float, end: float) -> bool | None:
    """The median of the last third of the values at steps in [start, end) is within HELD
    of the first third's (a leak climbs; a value that wobbles at the looks does not); None
    with fewer than three of them (nothing seen)."""
    inside = [v for s, v in points if start <= s < end]
    if len(inside) < 3:
        return None
    first, last = third_medians(inside)
    return last <= (1 + HELD) * first
