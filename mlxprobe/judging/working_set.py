"""Rule unit: RSS that grew because each step's work grew, not because something is kept.

Job: a curriculum's longer sequences, a batch that doubles, a model unrolled further: each
new size runs a larger graph, MLX's peak memory rises to it, and RSS follows in a stair
(allocator arenas, MLX's buffer cache, new kernels) that then holds for as long as the size
does. The leak rule's tail test (`verdict.LEAK_TAIL_SHARE`) excuses a stair that ended
before the last fifth of the run; this unit excuses the last stair too when all of these
hold:
- MLX's active memory (the arrays alive between steps) did not grow: nothing is kept;
- MLX's peak memory rose by at least PEAK_ROSE over the last LOOK_BACK of the fitted steps:
  the steps got larger there;
- RSS held within `verdict.LEAK_HELD` of its level over the last HELD_SHARE of the fitted
  steps: the stair ended, where a leak climbs on.

Thresholds and why: fresh85 `carillon_drift_gru_curriculum` (correct: a GRU over sequences
of 6, 12, 24, then 48 steps for the last 200 of 1,100 steps): RSS 55 -> 65 -> 83 -> 113 MB
in stairs at the stage changes, MLX's peak 7.1 -> 11.1 -> 18.6 -> 33.8 MB with them (1.8x
over the last 40% of the steps), active memory 0.43 -> 0.45 MB, RSS flat at 113.1 MB over
its last 10%. Over every kept run whose RSS grew past the leak floors, each leak whose
active memory did not grow (compile caches, lazy graphs, Python-side stores: ten runs)
moved >= 1.6% of its RSS level in its last tenth (fresh `compile_shape_cache_leak`); the
two leaks whose RSS last tenth held (dev `custom_modulelist_bn_leak`, fresh17
`trainer_step_never_evaluated`) grew in active memory, which this unit never excuses.
PEAK_ROSE = 1.1 (a new peak 10% above the old is a larger step, not allocator wander);
LOOK_BACK = 0.4 (twice the tail: RSS follows a new peak by up to ~100 steps).

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from .stats import last_share_start, moved_after

PEAK_ROSE = 1.1
LOOK_BACK = 0.4
HELD_SHARE = 0.1


def grew(raw: RawResult, rss_points: list[tuple[int, float]], active_grew: bool | None,
         held: float) -> dict | None:
    """The evidence that RSS followed a larger working set and then held, or None."""
    if active_grew is not False or len(rss_points) < 2:
        return None
    moved = moved_after(rss_points, last_share_start(rss_points, HELD_SHARE))
    rose = _peak_rise(raw, last_share_start(rss_points, LOOK_BACK))
    if rose is None or rose < PEAK_ROSE or moved > held:
        return None
    return {"peak_rose": round(rose, 3), "peak_rose_min": PEAK_ROSE, "look_back": LOOK_BACK,
            "last_share_moved": moved, "held_share": HELD_SHARE, "held_max": held}


def _peak_rise(raw: RawResult, cut: float) -> float | None:
    """MLX's peak memory at the run's last heartbeat over its value before step `cut`."""
    peaks = [(step, peak) for step, peak in counter_at_steps(raw, "mx_peak") if peak > 0]
    before = [peak for step, peak in peaks if step < cut]
    after = [peak for step, peak in peaks if step >= cut]
    return max(after) / max(before) if before and after else None


def counter_at_steps(raw: RawResult, key: str) -> list[tuple[int, int]]:
    """(step, bytes) of one of MLX's own memory counters at each heartbeat that carries it."""
    out = []
    for rec in raw.steps:
        value = (rec.get("memory") or {}).get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out.append((int(rec.get("step", len(out) + 1)), value))
    return out
