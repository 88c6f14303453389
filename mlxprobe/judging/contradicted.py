"""Rule unit: a held-out loss at its floor beside an accuracy far below what that loss allows.

Job: a cross-entropy of L nats on an evaluation bounds that evaluation's accuracy from below:
an example the argmax gets wrong has p(correct) <= 1/2, so it adds at least ln 2 to the sum,
and the share of such examples is at most L / ln 2 (Markov's inequality). A held-out loss of
BOUND_LOSS = 0.01 allows at most 1.4% errors. When the run's held-out loss fell to its floor
and ended at or below BOUND_LOSS while an accuracy the program reports ended at or below LOW
of its ceiling, the two do not score the same thing: the loss is computed with the answer in
view (a decoder without its causal mask under teacher forcing, so each position attends to
the token it predicts; labels not shifted against the inputs) while the accuracy generates
without it, or the two read different data (the generation path encodes its inputs another
way than the training batches: fresh304 `calliope_bandstand_sft`, whose conditioning tokens
were trained one embedding row below the row generation feeds). `zero_score` reads an
accuracy at 0 beside a training loss at its floor; this unit reads any low accuracy beside a
held-out loss that allows none.

Thresholds and why: the held-out loss (`metric_names.held_out_loss`, since the counter last
restarted) falls to <= FLOOR x its first over >= FLOOR_REPORTS evaluations (`program.
fell_to_floor`) and ends <= BOUND_LOSS; an accuracy (not a reward: `chance.task_accuracies`,
percentages scaled to [0, 1]) ends <= LOW. Measured: failure corpus fresh240
`bowing_etude_s2s` (cellogpt ff93119: the decoder's causal mask removed): val_loss 1.709 ->
0.0004 while greedy generation scored 30.6% per note (chance 20%); its fixed twin: val_loss
0.0011 and 100%. Over the 272 runs whose raw facts are kept (fresh222-fresh240), no other run
has a held-out loss that ends <= BOUND_LOSS beside an accuracy <= LOW. A loss that is no
cross-entropy (a mean squared error beside an accuracy within a tolerance) is the bound's
blind spot: the floor asked of it (100-fold down, <= 0.01) is what keeps such runs out.

A second proof that a loss is a cross-entropy in nats is a perplexity the program prints
beside it: `val_ppl` equal to exp(`val_loss`) within 1% at the same step (`perplexed`). Such
a loss needs no floor, and is held to the accuracy of its own split (the `val_` loss against
the `val_` accuracy, the same examples): the rule fires when the error share the accuracy
reports is more than SPAN x L / ln 2, SPAN = 10 positions (an answer scored as a whole, an
exact match of its start and end, errs when any of its positions does, so the bound grows
with its length; 10 leaves room for answers of up to 10 scored positions) and at least
MIN_ERRORS = 0.2. Measured: fresh351 `ledger_quay_span` (bert-qa 108f4b1: the evaluation's
reduction hard-coded to "mean" and then summed per batch and divided by the example count):
val_loss 0.017 = ln val_ppl 1.017 beside val_em 0.426 (57% errors against at most 2.5% per
position); its fixed twin val_loss 0.548, val_em 0.426 (79% allowed per position). Of the 635
runs whose raw facts are kept (fresh303-fresh355), 3 print a perplexity equal to exp of a
held-out loss; only the broken twin fires.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from .. import metric_names
from ..watching.facts import RawResult
from . import chance, hints, metrics, phases, program
from .rule import Rule, Verdict

BOUND_LOSS = 0.01
LOW = 0.5
SPAN, MIN_ERRORS, PPL_TOLERANCE = 10, 0.2, 0.01
FLOOR, FLOOR_REPORTS = program.FLOOR_FALL, program.FLOOR_REPORTS
HINT = ("the held-out loss `{loss}` allows at most {errors:.1%} errors (a cross-entropy of L "
        "nats bounds them by L / ln 2) while `{name}` scored {score:.1%}: the loss is "
        "computed with the answer in view and the accuracy without it. Check what the loss's "
        "forward is handed against what the scored generation has: " + hints.ANSWER_LEAKS
        + "; a decoder's self-attention without its causal (lower-triangular) mask sees the "
        "future tokens under teacher forcing, which generation never has; or the scored "
        "generation builds its inputs another way than the training batches: token ids "
        "offset by one between the two encoders (a reserved slot counted on one side only: "
        "`tok + num_extra + 1` against `tok + num_extra`), a conditioning or prompt row made "
        "by another function, special tokens added on one side")

HINT_MISCOUNTED = ("`{loss}` is smaller than the accuracy beside it allows: the evaluation "
                   "that reports it divides by more than it sums, or sums fewer terms than it "
                   "counts. A loss function asked for per-example values (`reduction=\"none\"`) "
                   "that returns a batch mean (a reduction hard-coded inside it instead of the "
                   "argument passed in) contributes one value per batch where the caller "
                   "divides by the number of examples; check that the reduction argument is "
                   "forwarded, and that the count divided by is the count summed")


def floored_losses(raw: RawResult) -> dict[str, list[float]]:
    """The held-out losses that fell to their floor and end at or below BOUND_LOSS."""
    return {name: values for name, values in phases.held_out_since_restart(raw).items()
            if program.fell_to_floor(values, FLOOR) and values[-1] <= BOUND_LOSS}


def low_accuracy(raw: RawResult) -> tuple[str, float] | None:
    """The first task accuracy whose last report is at or below LOW of its ceiling."""
    for name, values in chance.task_accuracies(raw).items():
        finite = [v for v in values if math.isfinite(v)]
        if finite and 0 <= finite[-1] <= LOW:
            return name, finite[-1]
    return None


def contradicted(raw: RawResult, meta: dict) -> Verdict | None:
    losses = floored_losses(raw)
    found = low_accuracy(raw) if losses else None
    if found is None:
        return None
    loss, values = next(iter(losses.items()))
    name, score = found
    errors = values[-1] / math.log(2)
    return Verdict("wrong_result", "contradicted", f"the held-out loss `{loss}` fell "
                   f"{values[0]:.4g} -> {values[-1]:.4g} (<= {BOUND_LOSS:g}: at most "
                   f"{errors:.1%} errors under a cross-entropy) while `{name}` ended at "
                   f"{score:.1%} (<= {LOW:.0%}): the two do not score the same thing",
                   HINT.format(loss=loss, errors=errors, name=name, score=score),
                   {"held_out_loss": loss, "values": values, "accuracy": name,
                    "accuracy_last": score, "bound_loss": BOUND_LOSS, "low": LOW})


def split_of(name: str) -> str | None:
    """The split a held-out loss names (`val` of `val_loss`), or None."""
    found = re.fullmatch(r"(.+?)_?(?:loss|nll|ce|xent)", name)
    return found.group(1) if found else None


def perplexed(points: list[tuple[int, float]], ppl: list[tuple[int, float]]) -> bool:
    """Whether a perplexity equal to exp(loss) within PPL_TOLERANCE is printed at some step
    the loss is."""
    steps = dict(ppl)
    return any(step in steps and abs(math.exp(loss) - steps[step]) <= PPL_TOLERANCE
               * steps[step] for step, loss in points if loss < 50)


def cross_entropies(raw: RawResult) -> dict[str, tuple[str, list[float]]]:
    """Held-out losses proven cross-entropies by their printed perplexity: split -> (name,
    values)."""
    series = metrics.series(raw)
    found = {}
    for name, points in series.items():
        split = split_of(name) if metric_names.held_out_loss(name) else None
        ppl = series.get(f"{split}_ppl") or series.get(f"{split}_perplexity")
        if split and ppl and perplexed(points, ppl):
            found[split] = (name, [v for _, v in points])
    return found


def exceeded(loss: float, score: float) -> bool:
    """Whether an error share of 1 - score is more than SPAN positions' bound under loss."""
    errors = 1 - score
    return errors >= MIN_ERRORS and errors > SPAN * loss / math.log(2)


def split_accuracy(raw: RawResult, split: str, loss: float) -> tuple[str, float] | None:
    """The first task accuracy of `split` whose last report errs past `exceeded`."""
    for name, values in chance.finite_task_accuracies(raw).items():
        if name.startswith(f"{split}_") and values and exceeded(loss, values[-1]):
            return name, values[-1]
    return None


def perplexity_contradicted(raw: RawResult, meta: dict) -> Verdict | None:
    for split, (loss, values) in cross_entropies(raw).items():
        found = split_accuracy(raw, split, values[-1])
        if found:
            return _perplexity_verdict(loss, values, *found)
    return None


def _perplexity_verdict(loss: str, values: list[float], name: str, score: float) -> Verdict:
    errors = values[-1] / math.log(2)
    return Verdict("wrong_result", "contradicted", f"the held-out loss `{loss}` ended at "
                   f"{values[-1]:.4g}, a cross-entropy (its printed perplexity is exp of it): "
                   f"at most {errors:.1%} errors per position, while `{name}` on the same "
                   f"split ended at {score:.1%}, {1 - score:.0%} errors (> {SPAN} positions' "
                   f"bound): the two do not score the same thing",
                   HINT_MISCOUNTED.format(loss=loss),
                   {"held_out_loss": loss, "values": values, "accuracy": name,
                    "accuracy_last": score, "span": SPAN, "min_errors": MIN_ERRORS})


RULES = (
    Rule("wrong_result.contradicted", "metrics", f"a held-out loss ends <= {FLOOR:g}x its "
         f"first over >= {FLOOR_REPORTS} evaluations and <= {BOUND_LOSS:g} while an accuracy "
         f"(not a reward) ends <= {LOW:g}", "a cross-entropy L bounds the error share by "
         "L / ln 2; failure corpus: fresh240 bowing_etude_s2s (cellogpt ff93119)",
         contradicted),
    Rule("wrong_result.perplexity_contradicted", "metrics", f"a held-out loss whose printed "
         f"perplexity is its exp (within {PPL_TOLERANCE:.0%}) ends at L while an accuracy of "
         f"its split reports an error share >= {MIN_ERRORS:g} and > {SPAN} x L / ln 2",
         "a cross-entropy L bounds the error share per position by L / ln 2; failure corpus: "
         "fresh351 ledger_quay_span (bert-qa 108f4b1)", perplexity_contradicted),
)
