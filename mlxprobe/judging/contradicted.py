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

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..watching.facts import RawResult
from . import chance, hints, phases, program
from .rule import Rule, Verdict

BOUND_LOSS = 0.01
LOW = 0.5
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


RULES = (
    Rule("wrong_result.contradicted", "metrics", f"a held-out loss ends <= {FLOOR:g}x its "
         f"first over >= {FLOOR_REPORTS} evaluations and <= {BOUND_LOSS:g} while an accuracy "
         f"(not a reward) ends <= {LOW:g}", "a cross-entropy L bounds the error share by "
         "L / ln 2; failure corpus: fresh240 bowing_etude_s2s (cellogpt ff93119)",
         contradicted),
)
