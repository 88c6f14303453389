"""Rule unit: RSS that rose in stairs and then held still to the end, MLX's own memory flat.

Job: a program in phases (pre-training, then a new module trained on top; a checkpoint saved
and loaded between them) raises RSS at each phase change (new arrays, imports, allocator
arenas) and then holds it. The leak rule's tail test (`verdict.LEAK_TAIL_SHARE`) excuses a
stair that ended before the last fifth of the run, `working_set` one that followed a larger
MLX peak; a stair in the last fifth that neither explains was read as a leak. This unit
excuses it when all of these hold:
- MLX's active memory (the arrays alive between steps) did not grow: nothing is kept;
- RSS moved at most STILL of its level over the last HELD_SHARE of the fitted steps;
- at least MIN_LOOKS outside samples fell in that tenth (a tenth seen once or twice would
  read as still whatever it did).
A leak that grows in bursts further apart than a tenth of the run is then not called (the
leak rule already leaves bursts further apart than a fifth): a missed leak costs less than a
false one.

Thresholds and why: fresh271 `semaphore_shift_softprompt` (correct: 300 steps of
pre-training, then 200 of a soft prompt, saved and loaded at step 100 of them): RSS 52 ->
65 -> 70 -> 81 -> 82.5 MB in stairs, the last at step ~389 of 500 (so the last fifth moved
1.4%), then 0.01% over the last tenth (20 looks); active memory 0.29 -> 0.44 MB (no growth
past its floor). Over every kept leak whose active memory did not grow (eight runs of the
corpus's leak cases, run again for this: compile caches, a new stream per step, a search
tree's cache, a chained Adam state), RSS moved >= 2.08% of its level over the last tenth
(fresh `compile_shape_cache_leak`) with >= 28 heartbeats there: STILL = 0.5% leaves a 4x
margin below them and 50x above the correct run.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from .stats import last_share_start, moved_after

HELD_SHARE = 0.1
STILL = 0.005
MIN_LOOKS = 5


def held(raw: RawResult, rss_points: list[tuple[int, float]],
         active_grew: bool | None) -> dict | None:
    """The evidence that RSS held still over the run's last tenth, MLX's memory flat; or
    None."""
    if active_grew is not False or len(rss_points) < 2:
        return None
    cut = last_share_start(rss_points, HELD_SHARE)
    moved, looks = moved_after(rss_points, cut), looks_after(raw, cut)
    if moved > STILL or looks < MIN_LOOKS:
        return None
    return {"last_share_moved": moved, "held_share": HELD_SHARE, "still_max": STILL,
            "looks": looks, "min_looks": MIN_LOOKS}


def looks_after(raw: RawResult, cut: float) -> int:
    """How many outside samples fell between the heartbeat at step `cut` and the last one."""
    times = [rec.get("t", 0.0) for rec in raw.steps if int(rec.get("step", 0)) >= cut]
    if not times:
        return 0
    return sum(1 for sample in raw.samples if times[0] <= sample.t <= times[-1])
