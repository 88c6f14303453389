"""Rule unit: the training loss went to ~0 and the accuracy the program reports scores zero.

Job: a training loss 100-fold down has learned what the loss asks. When every accuracy
report the run makes (a greedy transcription's digit accuracy, an exact-match rate, a
held-out caption accuracy) is still zero, the loss taught something the evaluation does not
ask: the targets handed to the loss are the decoder's own inputs (not shifted one step
ahead, so the model learns to copy the token it is shown), the answer leaks into the training
forward (a padding mask that replaces the causal one), or the evaluation decodes with other
tokens or masks than training. A model that learned anything of a task scores above zero on
it: a uniform guess over K classes scores 1/K. `zero_accuracy` reads an accuracy pinned at 0
over many reports beside a falling loss; this unit reads the few reports of an evaluation at
the end, which only a loss at its floor makes telling.

Thresholds and why: the loss (the run's learning series) ends at <= FLOOR x its first over >=
FLOOR_REPORTS reports (`program.fell_to_floor`, a fall no noise makes); every accuracy (not a
reward, a return or a score: `chance.task_accuracies`) <= ZERO at every one of its reports (a
baseline at 0 beside a trained score above it is a comparison).
Measured over every kept corpus run (675 at stop 60's end): no correct run has an accuracy at
<= 0.001 at all its reports; the runs with one are broken: fresh142
`spoken_digits_decoder_targets` (Whisper fine-tune, finetune-whisper-mlx-khmer 7698ee0: cross-
entropy against the decoder's input tokens; train loss 0.0079 -> 0.0000, greedy digit and
utterance accuracy 0.000), fresh132 `okapi_caption_sft` (train loss 0.857 -> 0.0000, caption
accuracy 0.000 at each of 8 evaluations), fresh26 `dpo_selfref_broken` (its loss never fell:
left alone).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import chance, hints, program
from .rule import Rule, Verdict

ZERO = 0.001
FLOOR, FLOOR_REPORTS = program.FLOOR_FALL, program.FLOOR_REPORTS
HINT = ("the training loss went to ~0 while `{name}` scored 0: the model learned what the "
        "loss asks, not what the evaluation asks. Check what the loss and the training "
        "forward are handed: " + hints.ANSWER_LEAKS + " (a target equal to what the decoder "
        "is fed is copied, not predicted; EOT goes on the targets only); that the loss sees "
        "the task's targets at all (sequences truncated before them: a length taken with "
        "len() of a (1, seq) array is 1; labels masked or cut off); that each example's "
        "target really differs (a template that writes a literal where the example's field "
        "goes, an f-string missing its braces, `f'...output...'` for "
        "`f'...{{record[\"output\"]}}...'`, makes every target the same string, learned at "
        "once); and that the evaluation decodes with the tokens and masks training used")


def scored_zero(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first task accuracy at <= ZERO at every one of its reports, when every task
    accuracy the run reports is: a baseline at 0 beside the trained model's score above it
    is a comparison (fresh262 `apiary_frame_adapter_reopen_ok`, correct: `base acc 0.000 |
    adapted acc 1.000 | reopened acc 1.000`, the base model never saw the new task)."""
    found = list(chance.finite_task_accuracies(raw).items())
    if any(finite and max(finite) > ZERO for _, finite in found):
        return None
    return next(((name, finite) for name, finite in found if finite), None)


def zero_score(raw: RawResult, meta: dict) -> Verdict | None:
    losses = program.losses(raw)
    found = scored_zero(raw) if program.fell_to_floor(losses) else None
    if found is None:
        return None
    name, values = found
    return Verdict("wrong_result", "zero_score", f"the loss fell {losses[0]:.4g} -> "
                   f"{losses[-1]:.4g} (<= {FLOOR:g}x its first over {len(losses)} reports) "
                   f"while `{name}` was <= {ZERO} at all {len(values)} of its reports: the "
                   "model learned what the loss asks, not the task", HINT.format(name=name),
                   {"accuracy": name, "values": values, "zero": ZERO, "loss_first": losses[0],
                    "loss_last": losses[-1], "reports": len(losses), "floor": FLOOR})


RULES = (
    Rule("wrong_result.zero_score", "metrics", f"the loss ends <= {FLOOR:g}x its first over "
         f">= {FLOOR_REPORTS} reports while every accuracy (not a reward) is <= {ZERO} at "
         "every one of its reports", "failure corpus: fresh142 spoken_digits_decoder_targets "
         "(finetune-whisper-mlx-khmer 7698ee0); no correct corpus run has an accuracy at 0 "
         "at all its reports", zero_score),
)
