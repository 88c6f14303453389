"""Rule unit: MLX's active memory that rose only by whole copies of the model's weights, kept
at a few spaced steps (snapshots, an in-memory checkpoint list), is no leak.

Job: a program that keeps a copy of its weights now and then (stochastic weight averaging's
snapshots, the best epoch's weights, a list of checkpoints held in memory) holds one more
copy after each: MLX's active memory climbs in stairs, and the leak rule's fit calls the
climb a leak. A leak (a graph kept alive, a list of a step's outputs) grows at every step,
or by amounts that are not a copy of the weights. This unit excuses the `mx_active` view
when all of these hold:
- the memory the program keeps to the end (the lowest value at or after each step) rose,
  by RISE_MIN_BYTES or more (the last MIN_GAP steps apart), at no more than MAX_RISES
  steps, each at least MIN_GAP steps after the one before, and by amounts that are each 1
  to MAX_COPIES whole copies of the model's trainable weights (their values times their
  dtypes' bytes, from the census), within TOLERANCE;
- those rises add up to at least half of the view's fitted growth: the stairs are the climb.
RSS is left to its own rules (a copy per step kept in a Python list, or a leak outside MLX,
still shows there).

Thresholds and why: fresh303 `pipeorgan_voicing_swa_snapshots` (correct: SWA keeps one
evaluated copy of a 76,417-value float32 model per epoch from epoch 4): active memory rose
by exactly 305,668 bytes (76,417 x 4) at 7 steps, 156 steps apart, +2.11 MB over the run,
flat between (a 0.31 MB transient every 5 steps, freed). MIN_GAP = 20 steps: a copy kept
every step, or every few, is a leak however exact its size. MAX_COPIES = 4: the weights
with Adam's two moments and a spare. TOLERANCE = 1% of a copy (MLX allocates exact sizes
here; a few hundred bytes of other arrays may move at the same step). MAX_RISES = 50: more
stairs than that is memory that grows with the run, whatever each stair holds.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from .anatomy import trainable_dtypes

MIN_GAP = 20
MAX_COPIES = 4
TOLERANCE = 0.01
MAX_RISES = 50
RISE_MIN_BYTES = 4096
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1,
               "uint8": 1, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "int16": 2,
               "uint16": 2, "complex64": 8}


def weight_bytes(raw: RawResult) -> int:
    """The bytes of one copy of the census's trainable weights (0 when unknown)."""
    return sum(int(n) * DTYPE_BYTES.get(d, 0) for d, n in trainable_dtypes(raw).items()
               if isinstance(n, (int, float)))


def kept_rises(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(step, bytes) where the memory kept to the end rose: the lowest value at or after
    each step, read from the end back; not over the last MIN_GAP steps, where a step's
    transient has no later look to be freed at."""
    floors, low = [], None
    for step, value in reversed(points):
        low = value if low is None else min(low, value)
        floors.append((step, low))
    floors.reverse()
    end = points[-1][0] - MIN_GAP if points else 0
    return [(s, b - a) for (_, a), (s, b) in zip(floors, floors[1:])
            if b - a >= RISE_MIN_BYTES and s <= end]


def copies(rise: int, copy: int) -> bool:
    """`rise` is 1 to MAX_COPIES whole copies of `copy` bytes, within TOLERANCE of one."""
    n = round(rise / copy)
    return 1 <= n <= MAX_COPIES and abs(rise - n * copy) <= TOLERANCE * copy


def kept(raw: RawResult, points: list[tuple[int, int]], growth_mb: float) -> dict | None:
    """The evidence that the active memory's climb is whole weight copies kept at spaced
    steps, or None."""
    copy = weight_bytes(raw)
    rises = kept_rises(points)
    if not copy or not rises or len(rises) > MAX_RISES:
        return None
    steps = [s for s, _ in rises]
    if any(b - a < MIN_GAP for a, b in zip(steps, steps[1:])):
        return None
    if not all(copies(r, copy) for _, r in rises):
        return None
    total_mb = sum(r for _, r in rises) / 2**20
    if total_mb < 0.5 * growth_mb:
        return None
    return {"copy_bytes": copy, "rises_at": steps, "rises_mb": round(total_mb, 3),
            "min_gap_steps": MIN_GAP, "tolerance": TOLERANCE}
