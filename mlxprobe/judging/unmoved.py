"""Rule unit: a loss that never leaves a narrow band around its level, from its first report
to its last, printed precisely enough to show it would move.

Job: `constant` reads a loss printed bit-identical at every report. A loss measured on the
batches the run draws is never identical, but when the model does not learn, or the
objective cannot move it toward anything (a loss minimised by a constant output), it stays
within its sampling noise of one level from the very first report: noise, no trend. A run
that learns, however slowly, moves its loss by more than that over its reports, or it
learned before its first report, which another measure shows (an accuracy that rose, another
error that fell, a measure printed before the loss that had already fallen).

Thresholds and why:
- >= MIN_REPORTS = 6 reports (`constant`'s count) of the judged loss, all finite, printed to
  >= MIN_DIGITS = 5 significant digits (a change of 0.01% shows: a loss printed `0.0273` may
  hide a fall of 0.2%);
- every value within BAND = 0.1% of their median (relative to its magnitude);
- no trend: the medians of the first and the last third differ by at most half the values'
  range (a slow steady fall moves them apart by nearly the whole range);
- stands down when an accuracy rose (`elsewhere.accuracy_rose`), a higher-is-better metric
  rose (`program.rising_metric`), another loss-like metric fell (`constant.fell`), or a
  measure printed before the loss had fallen (`program.learned_first`: converged before its
  first report).
Measured over every kept run of the corpus (1,368 runs; stop 52): of the runs with >= 5
finite loss reports, the only clean run whose loss stays within 1% of its median from first
report to last is fresh45 `deblur_signal_heavyball` (printed to 3 digits, and its `rel_err`
fell before the loss's first report); broken runs inside 0.1% with 5 digits: fresh55
`kd_klformula_sum_first` (a distillation loss written from the docstring's formula with the
sum before the product, minimised by a uniform student: -32.0607 to -32.0763 over 8 epochs,
val_acc at chance 0.124-0.137) and fresh20 `lora_stub_step` (judged `no_update` before).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics

from .. import metric_names
from ..watching.facts import RawResult
from . import constant, elsewhere, metrics, program
from .rule import Rule, Verdict

MIN_REPORTS = 6
MIN_DIGITS = 5
BAND = 0.001
HINT = ("the loss `{name}` never left its level: the model does not learn from it, or the "
        "loss cannot move toward the targets. Check that the loss compares the model's output "
        "with the targets as its formula means: a sum taken before a product or a weighting "
        "(a KL divergence is `sum(p * (log p - log q))` per row: `mx.sum(mx.exp(t) * (t - "
        "s), axis=-1)`, not `mx.exp(t) * (t - s).sum(axis=-1)`), a mean over the wrong axis, "
        "a loss of a detached or constant output; then that the gradients reach the "
        "parameters the optimizer updates and the learning rate is not 0")


def unmoved(losses: list[float]) -> dict | None:
    """The band a loss never left, or None (see the module's thresholds)."""
    if len(losses) < MIN_REPORTS or not all(math.isfinite(v) for v in losses):
        return None
    if min(constant.digits(v) for v in losses) < MIN_DIGITS:
        return None
    level = statistics.median(losses)
    spread = max(abs(v - level) for v in losses)
    if level == 0 or spread > BAND * abs(level):
        return None
    third = max(1, len(losses) // 3)
    drift = abs(statistics.median(losses[-third:]) - statistics.median(losses[:third]))
    if drift > 0.5 * (max(losses) - min(losses)):
        return None
    return {"level": level, "band": spread / abs(level), "drift": drift,
            "reports": len(losses)}


def learned(raw: RawResult, name: str) -> str | None:
    """Why the run learns anyway (another measure's word), or None."""
    series = metrics.series(raw)
    others = [[v for _, v in points] for n, points in series.items()
              if n != name and metric_names.role(n) == metric_names.LOSS]
    if any(constant.fell(v) for v in others):
        return "another loss fell"
    return (elsewhere.accuracy_rose(raw) or program.rising_metric(series)
            or program.learned_first(raw))


def judged(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.exit_code != 0:
        return None
    losses = program.losses(raw)
    found = unmoved(losses)
    name = program.loss_name(raw)
    if found is None or learned(raw, name):
        return None
    evidence = {**found, "metric": name, "min_reports": MIN_REPORTS,
                "min_digits": MIN_DIGITS, "max_band": BAND}
    return Verdict("not_learning", "unmoved", f"the loss `{name}` stayed within "
                   f"{found['band']:.3%} of {found['level']:.6g} at all {len(losses)} reports "
                   f"(band <= {BAND:.1%}, >= {MIN_DIGITS} significant digits, no trend), and "
                   "no other measure improved", HINT.format(name=name), evidence)


RULES = (
    Rule("not_learning.unmoved", "metrics", f"the judged loss within {BAND:.1%} of its median "
         f"at every one of >= {MIN_REPORTS} reports printed to >= {MIN_DIGITS} significant "
         "digits, its thirds' medians apart by <= half its range, and no accuracy, reward or "
         "other loss improved", "failure corpus: fresh55 kd_klformula_sum_first (mlx PR "
         "3788)", judged),
)
