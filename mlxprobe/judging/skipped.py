"""A rule unit's stand-down: non-finite losses the program went past.

Job: `went_past` says when a loss that turned non-finite is no divergence: the last loss
report is finite, at least FINITE_AFTER finite reports came after the first non-finite one,
and no parameter look ever saw a non-finite value. A diverged model gives non-finite losses
at every later report (nan propagates through each update and forward pass); finite losses
that keep coming after it, to the end, are a program that left those batches out (a guard
that skips an update whose loss or gradient norm is not finite, and prints the nan it
skipped) or an average over an empty selection on some batches, its gradient 0.

Threshold and why: FINITE_AFTER = 3 reports, more than the one or two a program prints after
restoring a checkpoint at its end. Measured: fresh267 `moraine_gauge_sentinel` (correct):
telemetry glitch batches every 37th step print `loss=nan grad_norm=nan -> update left out`,
26 non-finite of 42 loss reports from the first on, 16 finite epoch rows after it, the last
finite (train mse 0.449 -> 0.027), no look of 10 saw a non-finite parameter; `diverged:
non_finite` before. A run whose last loss report is non-finite still judges, unless every
non-finite loss carries a name of its own and another loss name the program prints was
never non-finite, came FINITE_AFTER times or more after the first of them, and ended no
further from the last non-finite report than its reports are from each other (fresh320
`retort_carbonyield_autoclip`, correct: each epoch's block ends with `last_skipped_loss =
"nan"`, the batch its guard left out, after its finite `train_mse_std`, 0.25 -> 0.051 over
12 epochs; no look saw a non-finite parameter).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..protocol import PARAMS, decode_number
from ..watching.facts import RawResult

FINITE_AFTER = 3


def went_past(raw: RawResult, losses: list[float]) -> bool:
    """The program went past its non-finite losses (see the module's docstring)."""
    first = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if first is None or nonfinite_seen(raw):
        return False
    if not math.isfinite(losses[-1]):
        return finite_elsewhere(raw.learning)
    return sum(1 for v in losses[first:] if math.isfinite(v)) >= FINITE_AFTER


def finite_elsewhere(records: list[dict]) -> bool:
    """Every non-finite loss carries a name of its own, and another loss name the program
    prints was never non-finite, came >= FINITE_AFTER times after the first of them, and its
    last report is no further from the last non-finite one than its reports are from each
    other (the run ended in the rhythm it kept, not long after its last finite report)."""
    named = [(r.get("loss_name", "loss"), decode_number(r.get("loss")), r.get("step", 0))
             for r in records]
    named = [(name, v, step) for name, v, step in named if v is not None]
    first = next((i for i, (_, v, _) in enumerate(named) if not math.isfinite(v)), None)
    if first is None:
        return False
    bad = {name for name, v, _ in named if not math.isfinite(v)}
    last_bad = max(step for _, v, step in named if not math.isfinite(v))
    after = [(name, step) for name, _, step in named[first:] if name not in bad]
    return any(in_rhythm([s for n, s in after if n == name], last_bad)
               for name in {n for n, _ in after})


def in_rhythm(steps: list[int], last_bad: int) -> bool:
    """>= FINITE_AFTER reports, and the last non-finite report within their widest gap of
    the last of them."""
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    return len(steps) >= FINITE_AFTER and last_bad - steps[-1] <= max(gaps)


def nonfinite_seen(raw: RawResult) -> bool:
    """A parameter look saw a non-finite value (nan stays nan: a diverged model looks
    "unchanged"). Here, not in `params` (which uses it too): `params` reads the metrics,
    whose rule reads this module."""
    return any(r.get("nonfinite") for r in raw.of_kind(PARAMS))
