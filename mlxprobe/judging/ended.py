"""Rule unit: the learning-rate schedule reached 0 and training went on without it.

Job: a program that reports its learning rate shows when its schedule ends. A rate printed
exactly 0.0 at the last reports of the run, a good part of them, after non-zero ones: every
update from the first of them on multiplies the gradient by 0, so nothing changes while the
loop keeps running (the loss then repeats to the last digit). The usual causes: a schedule
stepped twice per update (a callback that steps the same scheduler the train step already
steps), or one whose length is shorter than the run (its decay counted in epochs, or in the
batches of a smaller data set).

Thresholds and why: at least MIN_REPORTS = 6 trailing reports at exactly 0.0, at least
MIN_SHARE = 25% of the rate's reports, after a non-zero report. A schedule that decays to 0
on its last update prints 0 at most at the run's last report or two. Measured (failure
corpus fresh36 `lr_callback_double_step`: the rate 9.65e-4 -> 0 at report 12 of 24, the
loss 0.5988 at every one of the last 12); over every kept run of the corpus (1,080 runs), no
other run prints a rate of exactly 0 at even two trailing reports.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

MIN_REPORTS = 6
MIN_SHARE = 0.25
HINT = ("the learning-rate schedule reached 0 while training went on, so every update "
        "after it changed nothing: a scheduler stepped twice per optimizer update (a "
        "callback's `on_batch_end` stepping the same schedule the train step already steps, "
        "or a step per batch and another per epoch) runs at double speed, and one indexed "
        "by the micro-batch under gradient accumulation runs N times too fast: index it by "
        "the optimizer step (`optimizer.step`), once per update; a schedule shorter than the "
        "run (decay steps counted in epochs, or in the batches of a smaller data set) ends "
        "early: give it the number of optimizer updates, "
        "`optim.cosine_decay(lr, total_updates)`")


def zero_tail(rates: list[float]) -> int:
    """How many of the last reports are exactly 0.0."""
    tail = 0
    while tail < len(rates) and rates[-1 - tail] == 0.0:
        tail += 1
    return tail


def ended(raw: RawResult, meta: dict) -> Verdict | None:
    rates = metrics.learning_rates(raw)
    tail = zero_tail(rates)
    if tail < MIN_REPORTS or tail < MIN_SHARE * len(rates) or tail == len(rates):
        return None
    return Verdict("no_update", "lr_ended", f"the learning rate was exactly 0.0 at the last "
                   f"{tail} of its {len(rates)} reports (from report {len(rates) - tail + 1}, "
                   f"after {rates[-tail - 1]:.3g}): the updates from then on changed nothing",
                   HINT, {"zero_reports": tail, "reports": len(rates),
                          "last_non_zero": rates[-tail - 1], "min_reports": MIN_REPORTS,
                          "min_share": MIN_SHARE})


RULES = (
    Rule("no_update.lr_ended", "metrics", f"the reported learning rate exactly 0 at its last "
         f">= {MIN_REPORTS} reports, >= {MIN_SHARE:.0%} of them, after a non-zero one",
         "failure corpus: fresh36 lr_callback_double_step (a schedule stepped twice per "
         "update)", ended),
)
