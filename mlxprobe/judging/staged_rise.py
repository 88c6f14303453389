"""Exception to the explosion rule: a loss that rose only across stages the program announced
on lines of their own.

Job: a curriculum that makes its task harder in stages (more tokens hidden, longer
sequences, a larger noise level) may print each stage as a heading with its new setting and
no loss (`--- stage: hidden ratio up to 0.8 (from step 250)`, read as `to` = 0.8). Its loss
rises from stage to stage while it learns inside each; read as one curve, the last window is
above twice the first and the run reads as `diverged:exploding`. `phases` splits a curve
only where the loss jumps back to where it began; a staircase of small rises stays one
curve. This unit reads such a staircase: the announced settings mark segments of the loss
reports, and within none of them did the loss rise EXPLODE_FACTOR-fold over that segment's
first report, nor did any segment open EXPLODE_FACTOR-fold above the highest report before
it (a blow-up that lands at a stage change still reads as one).

An announcement: a report with no loss whose every metric is a setting (`metric_names.role`
OTHER, not a learning rate: a rate raised stage by stage is how runs blow up), of a name
printed so at least twice, each time to a value it never had before (stepped, never back: no
toggle, no statistic); each one between two loss reports marks a boundary. The run's last
loss report must also lie at or below its first (the untrained model's, where it printed
one): a staircase that climbs past where the run began is not excused.

Measured: fresh356 `rootstock_latin_unmask` (correct, MaskGIT-style infill with the hidden
ratio stepped 0.5 -> 0.8 -> 1.0): loss 1.459 (untrained) -> 0.262, stage means 0.574 / 0.685
/ 0.991, the last stage 0.969 -> 0.991 while held-out infill reached 0.874 (unigram 0.250):
read as one curve, 0.468 -> 0.992, `diverged:exploding`. Over the 646 runs whose raw facts
are kept (fresh303-fresh356), only this run's verdict moves.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from .. import metric_names
from ..protocol import decode_number
from ..watching.facts import RawResult
from ..watching.store import PROGRESS_VIEW
from . import phases


def setting(name: str) -> bool:
    """A setting a stage may step (`metric_names.role` OTHER), not a learning rate: a rate
    raised stage by stage is how a run blows up, not a harder task."""
    parts = metric_names.normal(name).split("_")
    return metric_names.role(name) == metric_names.OTHER and "lr" not in parts and \
        "learning_rate" not in metric_names.normal(name)


def settings_only(record: dict) -> dict:
    """The record's metrics when it has no loss and every metric is a setting; else {}."""
    values = record.get("metrics") or {}
    if decode_number(record.get("loss")) is not None or not values:
        return {}
    return values if all(setting(n) for n in values) else {}


def stepped(values: list[object]) -> bool:
    """At least two values, each one new: a setting stepped, never back."""
    return len(values) >= 2 and len(set(map(str, values))) == len(values)


def announced(raw: RawResult) -> list[float]:
    """When the program announced a stage on a line of its own (see the module's docstring)."""
    found: dict[str, list[tuple[float, object]]] = {}
    for record in raw.view(PROGRESS_VIEW).records():
        for name, value in settings_only(record).items():
            found.setdefault(name, []).append((record.get("t", 0.0), value))
    return sorted({t for marks in found.values() if stepped([v for _, v in marks])
                   for t, _ in marks})


def segments(raw: RawResult, losses: list[float]) -> list[list[float]]:
    """The loss reports split at each announcement between two of them; one segment when
    the records do not line up with `losses` (thinned)."""
    records = phases.loss_records(raw)
    if len(records) != len(losses):
        return [losses]
    times = announced(raw)
    parts: list[list[float]] = [[]]
    before = None
    for record, loss in zip(records, losses):
        now = record.get("t", 0.0)
        if before is not None and any(before < t <= now for t in times):
            parts.append([])
        parts[-1].append(loss)
        before = now
    return parts


def rose_by_stage(raw: RawResult, losses: list[float], factor: float) -> bool:
    """The loss rose only across announced stages and ended at or below its first report:
    >= 2 segments, none rising `factor`-fold over its first report, none opening
    `factor`-fold above every report before it."""
    parts = segments(raw, losses)
    if len(parts) < 2 or any(p[0] <= 0 for p in parts) or losses[-1] > losses[0]:
        return False
    inside = all(max(p) <= factor * p[0] for p in parts)
    return inside and all(parts[i][0] <= factor * max(sum(parts[:i], []))
                          for i in range(1, len(parts)))
