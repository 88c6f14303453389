"""Fix text: a learning rate the program prints that grows at every report, to a size no
training uses.

Job: `note(raw)` leads a `not_learning` hint when the program reports its learning rate
(`lr`, `learning_rate`) at >= MIN_REPORTS reports, every one above the one before by about the
same amount (a rate proportional to the step), ending >= LARGE and >= GROWTH x its second
report. MLX calls a callable `learning_rate` with the
optimizer's integer step count: a schedule written for another library's convention (a
function of the progress remaining, 1 -> 0, as Stable-Baselines3's) becomes `lr x step` and
grows for the whole run. A warm-up rises too, but ends (a plateau or a decay) and ends small.
Measured on fresh53 `sb3_schedule_bandit_broken`: lr 0 -> 0.447 -> ... -> 4.497 at every one
of 11 reports while the reward fell 0.387 -> 0.184; its fixed twin holds 3e-3 and decays.
Over every kept corpus run, five print a learning rate that rises at every report past 1.0:
this one, and four learning-rate range tests, whose rate grows by a factor, not an amount
(the note reads only the first kind). A fix text only: no verdict depends on it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics

MIN_REPORTS = 5
LARGE = 1.0
GROWTH = 10.0
LINEAR = 0.2  # reports evenly spaced in steps: equal rises
NOTE = ("the learning rate the program printed rose at every report, {first:g} -> {last:g}: "
        "MLX calls a callable `learning_rate` with the optimizer's integer step count, so a "
        "schedule written as a function of the progress remaining (1 -> 0, "
        "Stable-Baselines3's convention) grows with the step instead of decaying; use an "
        "`mlx.optimizers` schedule (`optim.linear_schedule(init, end, steps)`) or convert "
        "the step to progress yourself (`lambda step: lr * (1 - step / total)`); ")


def note(raw: RawResult) -> str:
    """The growing learning rate in words, or ""."""
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points if math.isfinite(v)]
        if metric_names.normal(name) in metric_names.LEARNING_RATES and growing(values):
            return NOTE.format(first=values[0], last=values[-1])
    return ""


def growing(values: list[float]) -> bool:
    """>= MIN_REPORTS values, each above the one before by about the same amount (every
    difference within LINEAR of their median: a rate proportional to the step), the last >=
    LARGE and >= GROWTH x the second."""
    steps = [b - a for a, b in zip(values, values[1:])]
    if len(values) < MIN_REPORTS or min(steps) <= 0:
        return False
    middle = statistics.median(steps)
    return all(abs(s - middle) <= LINEAR * middle for s in steps) and values[-1] >= LARGE \
        and values[-1] >= GROWTH * values[1]
