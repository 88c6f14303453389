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
HELD = 1% (`working_set`'s held share); MARGIN = 10% of a stage (RSS's stairs came up to 11
steps before the printed change).

Must not import: mlx, the runner.
"""

from __future__ import annotations

from .. import metric_names
from ..watching.facts import RawResult
from .stats import third_medians

HELD = 0.01
MARGIN = 0.1


def stage_changes(raw: RawResult) -> list[int]:
    """The steps at which a stage counter the program prints took a new value."""
    changes, last = [], {}
    for record in raw.learning:
        for name, value in (record.get("metrics") or {}).items():
            if metric_names.stage_counter(name):
                if name in last and last[name] != value:
                    changes.append(int(record.get("step", 0)))
                last[name] = value
    return sorted(set(changes))


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
