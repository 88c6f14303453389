"""Whether the model a program evaluates moves: a held-out metric's trend, shared by the rules
that read a number fixed beside it (`constant`, `stale_eval`).

Job: a number printed at the same value at every report is stale only when nothing the
program evaluates moves; when another metric measured on held-out data trends, the evaluated
model changes, and the fixed number measures something else: a reference, a baseline, a data
statistic.

Thresholds and why: a held-out metric with >= MIN_REPORTS reports whose last third's median is
more than MOVED (5%) away from its first third's, either way: the jitter of a stale model
scored on random batches stays within +-0.7% (fresh129's shape).

Must not import: mlx, the runner, reporters, another rule unit.
"""

from __future__ import annotations

import math
import statistics

from .. import metric_names

MOVED = 0.05  # a held-out metric whose thirds' medians differ by more: the evaluated model moves
MIN_REPORTS = 6


def evaluated_moves(every: dict[str, list[float]], name: str) -> bool:
    """Another metric measured on held-out data (`val_rmse`, `test_acc`), reported at least
    MIN_REPORTS times, moved (`trended`): the model the program evaluates changes,
    so a number fixed beside it measures something else, a reference (fresh161
    `funicular_mrt_customvjp_allsum_restore`: `val rmse 0.756 ... (predict-mean rmse 2.238)`
    at every epoch, val rmse 0.756 -> 0.609). A stale evaluated model leaves every held-out
    number fixed (fresh6 `trainer_local_model_shadow`: val_loss 0.7142 at all 12 epochs)."""
    return any(metric_names.held_out(other) and other != name and len(values) >= MIN_REPORTS
               and trended(values) for other, values in every.items())


def trended(values: list[float]) -> bool:
    """The last third's median is more than MOVED away from the first third's, either way
    (finite values): a trend, not the jitter of a stale model scored on random batches."""
    medians = thirds(values)
    return medians is not None and abs(medians[1] - medians[0]) > MOVED * abs(medians[0])


def thirds(values: list[float]) -> tuple[float, float, float] | None:
    """The medians of the first and last thirds of the finite values, and the first value;
    None under two values a third."""
    finite = [v for v in values if math.isfinite(v)]
    third = len(finite) // 3
    if third < 2:
        return None
    return statistics.median(finite[:third]), statistics.median(finite[-third:]), finite[0]
