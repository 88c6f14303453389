"""Rule unit: an accuracy that counts past 1, report after report: a running sum never reset.

Job: an accuracy printed as a fraction lies in [0, 1]. A program that sums its metrics over a
report window and divides by the window's step count, but resets only the count after each
report, prints at report k the sum of every window so far over one window's steps: the
"accuracy" climbs by one window's accuracy (0 to 1) per report, past 1 (failure corpus fresh56
`dpo_report_window_metrics`, mlx-lm-lora 459f7e7: acc 0.978, 1.978, 2.978, ... 15.977 while
the held-out accuracy was 1.000). The training may be fine; what it reports is wrong, and so
is every decision taken on it.

Thresholds and why: a task accuracy as printed (an accuracy-like name, not a reward or a
score) whose name does not say percent, first report in [0, 1], at least MIN_ABOVE reports
above 1, its largest value at least MIN_TOP (a percentage that starts below 1% and rises
slowly stays near 1 for a while: an accuracy printed in % from a 1000-class start is what
this keeps out), and from the first report to the largest every step between reports in
[0, 1] (one window's accuracy added each time). Over every kept run of the corpus (1,392
runs, stop 52) only that case has a task accuracy above 1 with a first report at or below 1.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

MIN_ABOVE = 3
MIN_TOP = 2.0
TOLERANCE = 0.002  # printed values: 0.978 -> 1.978 is 1.0000000000000002
HINT = ("the printed `{name}` is a running sum, not an accuracy: the metric sums are kept "
        "across reports while the count they are divided by is reset, so each report adds "
        "the window's accuracy to every earlier one. Reset the accumulated metrics together "
        "with the step count after each report (`accumulated_metrics = {{k: 0 for k in "
        "accumulated_metrics}}; steps = 0`), or divide by the steps since the start")


def climbing(values: list[float]) -> bool:
    """From the first value in [0, 1] up to the largest, every step in [0, 1]."""
    top = values.index(max(values))
    steps = [b - a for a, b in zip(values[:top], values[1:top + 1])]
    return 0 <= values[0] <= 1 and all(-TOLERANCE <= s <= 1 + TOLERANCE for s in steps)


def found(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first task accuracy (as printed, not rescaled) that counts past 1, and its values."""
    for name, points in metrics.series(raw).items():
        if metric_names.role(name) != metric_names.ACCURACY or metric_names.objective(name):
            continue
        finite = [v for _, v in points if math.isfinite(v)]
        if "pct" in name or "percent" in name or "%" in name or not finite:
            continue
        if sum(v > 1 for v in finite) >= MIN_ABOVE and max(finite) >= MIN_TOP \
                and climbing(finite):
            return name, finite
    return None


def accumulated(raw: RawResult, meta: dict) -> Verdict | None:
    hit = found(raw) if raw.watched else None
    if hit is None:
        return None
    name, values = hit
    shown = ", ".join(f"{v:.4g}" for v in values[:4])
    return Verdict("wrong_result", "accumulated", f"the accuracy `{name}` counted past 1 "
                   f"({shown}, ... up to {max(values):.4g}; {sum(v > 1 for v in values)} "
                   "reports above 1), by at most 1 a report: a sum over every report window "
                   "divided by one window's count", HINT.format(name=name),
                   {"metric": name, "values": values[:20], "min_above": MIN_ABOVE,
                    "min_top": MIN_TOP})


RULES = (
    Rule("wrong_result.accumulated", "metrics", f"a task accuracy (not percent) starting in "
         f"[0, 1] above 1 at >= {MIN_ABOVE} reports, up to >= {MIN_TOP:g}, climbing by 0 to 1 "
         "a report", "failure corpus: fresh56 dpo_report_window_metrics (mlx-lm-lora "
         "459f7e7)", accumulated),
)
