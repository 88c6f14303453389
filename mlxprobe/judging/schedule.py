"""Rule unit: a run that ended while its learning rate was still warming up, and learned little.

Job: a program that reports its learning rate (`lr`, `learning_rate`, ... under any of the
names `metric_names` reads) shows its schedule. A rate that rose at every report to the end
of the run, while the loss barely moved, is a warm-up longer than the run: the updates were
tiny throughout (typically a warm-up counted in samples or tokens instead of optimizer
steps). That loop "learns" by a significant but small amount, which the trend rule rightly
lets pass for a slow fine-tune; the rate's trajectory is what tells them apart.

Thresholds and why: at least MIN_REPORTS reports of the rate (a trajectory, not a point);
never falling (a warm-up, not a schedule that already decays or restarts); the last report
at least RISE x the first and higher than the one a fifth of the reports before it (still
rising at the end); and the loss's last-10% median less than MIN_DROP below its first-10%
median (the scenario rule's floor): a correct run that learns during its warm-up is never
flagged, nor is a constant small rate (a slow fine-tune at 1e-5). Measured on the failure
corpus (dev half, `warmup_steps_in_samples`, mlx-examples' warm-up in samples): 13 reports,
rate 1.2e-6 -> 1.6e-5 and still rising, perplexity 11.25 -> 10.99 (-1.9%); its fixed twin
peaks at 3e-3 within 25 steps and falls to 3.0.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import metrics, program
from .rule import Rule, Verdict

MIN_REPORTS = 10
RISE = 2.0
MIN_DROP = program.MIN_DROP  # the scenario rule's
HINT = ("the learning rate was still rising at the end of the run: the warm-up is longer "
        "than the run (often counted in samples or tokens instead of optimizer steps), so "
        "every update was tiny; count the warm-up in updates, a small share of the run: "
        "`optim.join_schedules([optim.linear_schedule(0, lr, warmup), optim.cosine_decay(lr, "
        "total_updates)], [warmup])` with `warmup = total_updates // 20`")


def rising_to_the_end(rates: list[float]) -> bool:
    """Never falling, ending at least RISE x its start, and still rising in its last fifth."""
    if len(rates) < MIN_REPORTS or rates[0] <= 0:
        return False
    tail_start = rates[-max(2, len(rates) // 5)]
    return (all(b >= a for a, b in zip(rates, rates[1:])) and rates[-1] >= RISE * rates[0]
            and rates[-1] > tail_start)


def learned(raw: RawResult, share: float) -> bool:
    """The loss fell by `share` (`loss_drop`), or there is nothing left to learn
    (`program.converged`: a loss at its floor, an accuracy at its ceiling)."""
    drop = loss_drop(raw)
    return (drop is not None and drop >= share) or program.converged(
        program.losses(raw), metrics.series(raw)) is not None


def loss_drop(raw: RawResult) -> float | None:
    """The loss's first-10% median minus its last-10% median, over the first's (the trend
    rule's own `window_drop`, `program.trend`)."""
    fit = program.trend(program.losses(raw))
    return fit["window_drop"] if fit else None


def warming_up(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched:
        return None
    rates = metrics.learning_rates(raw)
    drop = loss_drop(raw)
    if drop is None or drop >= MIN_DROP or not rising_to_the_end(rates):
        return None
    return Verdict("not_learning", "lr_warmup", f"the learning rate rose at every report, "
                   f"{rates[0]:.3g} -> {rates[-1]:.3g} over {len(rates)} reports, still rising "
                   f"at the end of the run, while the loss fell {drop:.1%} (< {MIN_DROP:.0%})",
                   HINT, {"learning_rate_first": rates[0], "learning_rate_last": rates[-1],
                          "reports": len(rates), "loss_drop": round(drop, 4),
                          "min_drop": MIN_DROP, "rise": RISE})


RULES = (
    Rule("not_learning.lr_warmup", "metrics", f"the reported learning rate never fell, rose "
         f">= {RISE:g}x and was still rising at the last of >= {MIN_REPORTS} reports, while "
         f"the loss fell < {MIN_DROP:.0%}", "failure corpus (dev): a warm-up counted in "
         "samples, rate 1.2e-6 -> 1.6e-5, perplexity -1.9%", warming_up),
)
