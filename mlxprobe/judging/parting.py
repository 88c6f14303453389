"""Rule unit: the loss falls while what the run is scored on falls away (the two part ways).

Job: the training loss and an accuracy the program reports measure one model on one task, so
a run that learns moves them together. When the loss falls significantly while an accuracy
falls significantly to half of where it stood early or below, the loss optimises something
other than what the accuracy scores: a hand-written (fused) loss that rebuilds the logits
without a scale the model's forward applies (an output multiplier, a temperature, a
softcap's divisor), targets transformed for the loss and not for the metric, a loss taken on
another output than the one evaluated. (`receding` is the same fall with a flat loss.)

Thresholds and why: the accuracy as `receding` reads it (a task accuracy or an agreement
measure, not a reward: a policy-gradient loss falls for other reasons; >= 10 reports, >= 0,
first > 0; a significant fall, Mann-Kendall p < 0.05, to a last-third median at most 0.5x
the best of its first third); the loss's trend falls significantly (p < 0.05) and its last
window's median at least MIN_DROP (5%) below its first's; no other higher-is-better metric
rose significantly (a precision that falls while recall rises is a trade-off); no held-out
loss fell significantly (then the model learns the task, and the accuracy is a quirk of its
own). Measured (failure corpus fresh37 `glimmer_softcap_fused_ce`, unsloth-zoo's fused
cross-entropy rebuilt without the output multiplier): train CE 4.45 -> 0.98 over 12 epochs
while val_acc went 0.203, 0.253, ... 0.027 (chance 0.021) and val_ce rose 2.68 -> 6.13; the
fixed twin: val_acc 0.950 -> 0.996.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics, program, receding
from .rule import Rule, Verdict

HINT = ("the loss fell while `{name}` fell to a fraction of where it stood early: the loss "
        "optimises something other than what `{name}` scores. Check that the loss sees the "
        "model's own output: a hand-written or fused loss that rebuilds the logits must apply "
        "every scale the forward applies (an output multiplier, a temperature, a logit "
        "softcap's `cap * tanh(logits / cap)`), on the same targets the metric reads; or "
        "compute the loss from `model(x)` itself")


def _candidates(series: dict) -> dict:
    """The task accuracies and agreement measures (no rewards, returns or scores)."""
    return {n: p for n, p in series.items() if not metric_names.objective(n)}


def parting(raw: RawResult, meta: dict) -> Verdict | None:
    series = metrics.series(raw)
    found = receding.receding(_candidates(series))
    loss = program.significant_fall(raw) if found else None
    if found is None or loss is None or loss["window_drop"] < program.MIN_DROP \
            or program.falling_held_out(series):
        return None
    name, fit, values = found
    if program.rising_metric({n: p for n, p in series.items() if n != name}, significant=True):
        return None
    evidence = {"metric": name, "trend": fit, "loss_trend": loss, "fell_to_at_most":
                receding.FELL}
    return Verdict("not_learning", "parting", f"{program.fall_words(loss)} while "
                   f"`{name}` fell from {fit['first']:.4g} to {fit['last']:.4g} (p="
                   f"{fit['p_decrease']:.2g}; its last third's median <= {receding.FELL:g}x "
                   "its first third's best): they part ways", HINT.format(name=name), evidence)


RULES = (
    Rule("not_learning.parting", "metrics", "a task accuracy or agreement measure falls as "
         f"`receding` reads it while the loss falls significantly (p < {program.TREND_P}, a "
         f"window drop >= {program.MIN_DROP:.0%}); no other higher-is-better metric rises "
         "significantly and no held-out loss falls significantly", "failure corpus: fresh37 "
         "glimmer_softcap_fused_ce (unsloth-zoo 36dec5a)", parting),
)
