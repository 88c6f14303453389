"""Rule unit: the learning rate the program prints follows a schedule that never reaches the
optimizer.

Job: a program that logs its learning rate usually logs what it trains with. When the rate
it prints moves (a warm-up, a decay) while every optimizer it built holds a constant rate
(`rate` records: built from a number, not a schedule) that the program never sets again
(`optimizer.learning_rate = ...`), the printed schedule is computed beside the training, not
in it: the run trains at the constant throughout, typically one hard-coded when the
optimizer was built, and learns at whatever pace that gives while its log claims another
(failure corpus fresh146 `shiftlog_gpt_lrsched`, offensivedev/gpt2-mlx c5c309a: AdamW groups
built with `learning_rate=1e-4` and `1e-3` while the log printed the warm-up and cosine
schedule 3e-4 -> 3e-3 -> 3e-4; val loss 3.36 -> 1.79 against 0.86 with the schedule passed
to the optimizers).

Thresholds and why: >= MIN_REPORTS reports of the rate whose largest is >= VARIES x its
smallest (a schedule, not a rounding of a constant); at least one optimizer built, each
with a plain number (an array or a schedule stands down: the rate may move inside it), fewer
than the RATES_BUILT the child records (a sweep past that is not seen whole), no setting of
the rate recorded, and no printed rate within NEAR of any built constant: a
program that writes `optimizer.state["learning_rate"]` itself (which the child does not
see) starts from the constant it built with, so its printed rates meet that number. No
correct corpus run or catalogue variant meets all of these (every kept run rejudged).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..protocol import RATE, RATES_BUILT
from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

MIN_REPORTS = 4
VARIES = 2.0
NEAR = 0.01  # relative: a printed rate this close to a built constant may be that constant
HINT = ("the learning rate the program prints is not the one it trains with: pass the "
        "schedule it prints to the optimizer (`optim.AdamW(learning_rate=lr_schedule)`, a "
        "callable of the step, for every optimizer of a MultiOptimizer), or set "
        "`optimizer.learning_rate = lr` before each update; a constant hard-coded where the "
        "optimizer is built overrides the schedule")


def printed_rates(raw: RawResult) -> list[float]:
    return [v for v in metrics.learning_rates(raw) if math.isfinite(v) and v > 0]


def built_constants(raw: RawResult) -> list[float] | None:
    """The constant rates the optimizers were built with; None where one was a schedule or
    an array, where the program set a rate, where no optimizer's rate was recorded, or where
    as many were built as the child records (a sweep may have built more, unseen)."""
    records = raw.of_kind(RATE)
    built = [r for r in records if not r.get("set")]
    if not built or len(built) < len(records) or len(built) >= RATES_BUILT or any(
            r.get("schedule") or r.get("value") is None for r in built):
        return None
    return [float(r["value"]) for r in built]


def near(rate: float, constants: list[float]) -> bool:
    return any(abs(rate - c) <= NEAR * abs(c) for c in constants)


def unapplied_rate(raw: RawResult, meta: dict) -> Verdict | None:
    rates, constants = printed_rates(raw), built_constants(raw)
    if constants is None or len(rates) < MIN_REPORTS or max(rates) < VARIES * min(rates) or any(
            near(r, constants) for r in rates):
        return None
    shown = ", ".join(f"{c:.3g}" for c in dict.fromkeys(constants))
    return Verdict("not_learning", "rate_unapplied", f"the printed learning rate moved "
                   f"{rates[0]:.3g} -> {max(rates):.3g} -> {rates[-1]:.3g} over {len(rates)} "
                   f"reports, while every optimizer was built with a constant rate ({shown}) "
                   "that the program never set: the schedule never reached the optimizer",
                   HINT, {"printed_first": rates[0], "printed_max": max(rates),
                          "printed_min": min(rates), "printed_last": rates[-1],
                          "reports": len(rates), "built_constants": constants,
                          "varies": VARIES, "near": NEAR})


RULES = (
    Rule("not_learning.rate_unapplied", "metrics", f"the printed learning rate "
         f"spans >= {VARIES:g}x over >= {MIN_REPORTS} reports, none within {NEAR:.0%} of "
         "the constant rates every optimizer was built with, and the program never set a "
         "rate", "failure corpus: fresh146 shiftlog_gpt_lrsched (gpt2-mlx c5c309a); no "
         "correct corpus run meets it", unapplied_rate),
)
