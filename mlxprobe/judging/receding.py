"""Rule unit: what the run is scored on falls away from its goal while the loss does not fall.

Job: a reward, an accuracy or a score the program reports is higher-is-better. When one of
them falls significantly over the run to half of where it stood early or below, none rises,
and the loss shows no fall, the updates push the model away from what it is scored on: an
objective with its sign turned round (a loss maximised instead of minimised, an advantage or
a reward negated, a policy-gradient importance ratio inverted, a hand-written update that
adds the gradient). A run that learns anything of its task does not end below half of where
it stood early on it; a run that only stalls stays where it began (the trend and chance
rules' case), it does not recede.

Thresholds and why: the metric (a fraction, a percentage or a reward >= 0 at every report, its
first > 0) has >= 10 reports (the trend rule's minimum) and falls significantly by the trend
rule's own test (Mann-Kendall p < 0.05, `program.trend`), its last third's median at most FELL
= 0.5 x the highest value of its first third; no higher-is-better metric rose significantly
(`program.rising_metric(significant=True)`, Mann-Kendall p < 0.05: a reward sampled near 0,
0.000-0.033, is noise, not a rise); the loss, if any, is flat by the trend rule
(`program.flat`); where no loss is named, no other metric that is not higher-is-better falls
significantly beside it (`falling_other`). Measured (failure corpus fresh21
`grpo_bandit_ratio_flip`, the clipped surrogate's ratio computed as exp(old - new)): greedy
reward 0.171 before training, then 0.018, 0.020, 0.023, 0.014 and down to 0.008-0.012 (12
reports after the first, Mann-Kendall p = 0.001), loss flat 0.069-0.095; its fixed twin: 0.171
-> 0.829.
Only the reports since the program's counter last restarted are read (`phases.restart_times`):
a curriculum whose stages get harder lowers a metric from stage to stage by design (fresh138
`philately_scan_match`: top-1 45.3% at the end of its first cycle, 21.5% at the second's,
11.3% at the third's, with scanner noise 0.2, 0.3, 0.4; within the last cycle it rose 5.9 ->
11.3).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics, phases, program, rising_rate
from .rule import Rule, Verdict

FELL = 0.5
HINT = ("`{name}` (higher is better) fell from {first:.4g} to {last:.4g} while the loss did "
        "not fall: the updates push the model away from its goal. Look for an objective "
        "with its sign turned round: a policy-gradient importance ratio inverted "
        "(`mx.exp(old_logp - new_logp)` instead of `mx.exp(new_logp - old_logp)`), an "
        "advantage or a reward negated, a likelihood or a reward minimised instead of "
        "maximised (minimise its negative), a hand-written update that adds the gradient "
        "(`p + lr * g` instead of `p - lr * g`), a target scaled or flipped the other way "
        "from the metric's")


def receding(series: dict[str, list[tuple[int, float]]]
              ) -> tuple[str, dict, list[float]] | None:
    """The first higher-is-better metric that fell to half its best early value, with its
    trend and its finite values, or None."""
    for name, points in series.items():
        values = [v for _, v in points if math.isfinite(v)]
        if metric_names.lower_is_better(name) is not False or not _positive(values):
            continue
        fit = program.trend(values)
        if fit and fit["p_decrease"] < program.TREND_P and _tail(values) <= FELL * _best(values):
            return name, fit, values
    return None


def _positive(values: list[float]) -> bool:
    return len(values) >= program.TREND_MIN_POINTS and values[0] > 0 and min(values) >= 0


def _best(values: list[float]) -> float:
    """The highest value of the first third: where the metric stood early."""
    return max(values[:max(1, len(values) // 3)])


def _tail(values: list[float]) -> float:
    return statistics.median(values[-max(1, len(values) // 3):])


def falling_other(series: dict[str, list[tuple[int, float]]], name: str) -> str | None:
    """Where no loss is named: another metric, not higher-is-better, that fell
    significantly (Mann-Kendall p < TREND_P) beside `name`. The objective may be among
    them, and a metric falling with it is a term of it, not a score pushed away (fresh265
    `railhead_echo_fcos`: `train` 1.60 -> 0.14, `valid`, `focal` and the IoU loss term `iou`
    0.48 -> 0.10 all fell, the detector's F1 rose to 97.6%)."""
    for other, points in series.items():
        if other == name or metric_names.lower_is_better(other) is False:
            continue
        fit = program.trend([v for _, v in points if math.isfinite(v)])
        if fit and fit["p_decrease"] < program.TREND_P:
            return other
    return None


def judge(raw: RawResult, meta: dict) -> Verdict | None:
    series = metrics.series(raw, since=phases.last_restart(raw))
    found = receding(series)
    if found is None or program.rising_metric(series, significant=True):
        return None
    loss = program.trend(program.losses(raw))
    if loss is not None and not program.flat(loss) or loss is None and falling_other(
            series, found[0]):
        return None
    name, fit, values = found
    evidence = {"metric": name, "trend": fit, "tail_median": round(_tail(values), 4),
                "fell_to_at_most": FELL, "loss_trend": loss}
    return Verdict("not_learning", "receding", f"`{name}` fell from {fit['first']:.4g} to "
                   f"{fit['last']:.4g} over {fit['points']} reports (Mann-Kendall p="
                   f"{fit['p_decrease']:.2g}; its last third's median <= {FELL:g}x its first "
                   "third's best) "
                   "while the loss did not fall", rising_rate.note(raw) + HINT.format(
                       name=name, first=fit["first"], last=fit["last"]), evidence)


RULES = (
    Rule("not_learning.receding", "metrics", f"a higher-is-better metric (>= 0, >= "
         f"{program.TREND_MIN_POINTS} reports) falls significantly (p < {program.TREND_P}) "
         f"to a last-third median <= {FELL:g}x its first third's best, none rises "
         "significantly, the loss is flat (no loss named: no other metric falls "
         "significantly beside it); since the counter last restarted",
         "failure corpus: fresh21 grpo_bandit_ratio_flip "
         "(an inverted GRPO ratio)", judge),
)
