"""Rule unit: every accuracy the run reports is zero where the program itself states that a
guess scores more (the score is taken at the wrong place).

Job: a program that prints its chance accuracy (`(chance 0.250)`, `chance lane accuracy
25.0%`) says that a uniform guess over its classes scores that much. A model, trained or
not, that scores exactly 0 at every report of every accuracy the run prints is not guessing
badly: 0 of N at chance p happens with probability (1 - p)^N, about 1e-4 for p = 0.25 and N =
32 at one report. Its predictions are compared with something they never equal: the logits
of another position (an off-by-one in a sequence already shifted by one: `logits[:, i]`
predicts `targets[:, i]`), other label ids than the model's outputs, an argmax over the wrong
axis; or the model never outputs a class at all.

Thresholds and why: a stated chance accuracy >= MIN_CHANCE (a fraction < 1, or a percentage
< 100) on a line that names chance and no loss; every task accuracy (not a reward, a return
or a score: `chance.task_accuracies`) <= ZERO at every one of its reports, one of them with >=
MIN_REPORTS reports. Measured over every kept corpus run (550, then 606 by stop 75's
end): the one run it fires on is broken, fresh255 `harbor_manifest_tagger` (mlx-lm trainer's
loss_test took `L[rows, indices - 1]`: lane accuracy 0.0% at all three epochs, chance 25.0%;
its fixed twin 99.5-99.8%); `zero_score` had found no correct run with an accuracy at 0 at
all its reports (675 runs at stop 60).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import re

from ..watching.facts import RawResult
from . import chance
from .rule import Rule, Verdict

ZERO = 0.001
MIN_CHANCE = 0.05
MIN_REPORTS = 3
# `chance 0.250`, `chance lane accuracy 25.0%`, `chance = 10.0%`: the first number after the
# word, with no digit, loss or log word between
STATED = re.compile(r"(?i)\bchance\b([^\n\d]{0,40}?)(\d+(?:\.\d+)?)\s*(%?)")
NOT_ACCURACY = re.compile(r"(?i)loss|\bce\b|nll|cross|entropy|\bln\b|\blog|perplex|ppl|reward")
HINT = ("every accuracy the run reports is 0 although, by the program's own words, a guess "
        "scores {chance:.3g}: the predictions are compared with something they never equal. "
        "Check where the score is taken: in a sequence already shifted by one (`targets = "
        "batch[:, 1:]`), `logits[:, i]` predicts `targets[:, i]`, so gather the logits at the "
        "answer's own index, not `indices - 1`; that the labels use the ids the model outputs "
        "(a class id, not a token id of another vocabulary); that the argmax runs over the "
        "class axis; and print a few predictions beside their targets to see what the model "
        "does output")


def stated(text: str) -> float | None:
    """The last chance accuracy the output states, as a fraction, or None."""
    for found in reversed(list(STATED.finditer(text))):
        between, number, percent = found.groups()
        if NOT_ACCURACY.search(between):
            continue
        value = float(number) / (100.0 if percent else 1.0)
        if 0 < value < 1:
            return value
    return None


def all_zero(raw: RawResult) -> dict[str, list[float]] | None:
    """Every task accuracy, when each sits at <= ZERO at all its reports and one has >=
    MIN_REPORTS of them; else None."""
    found = chance.finite_task_accuracies(raw)
    if not found or any(not vs or max(vs) > ZERO for vs in found.values()):
        return None
    return found if max(map(len, found.values())) >= MIN_REPORTS else None


def below_chance(raw: RawResult, meta: dict) -> Verdict | None:
    said = stated(raw.stdout_tail or "")
    found = all_zero(raw) if said is not None and said >= MIN_CHANCE else None
    if found is None:
        return None
    name, values = max(found.items(), key=lambda item: len(item[1]))
    evidence = {"accuracies": found, "chance_stated": said, "zero": ZERO,
                "min_chance": MIN_CHANCE, "min_reports": MIN_REPORTS}
    return Verdict("wrong_result", "below_chance", f"`{name}` was <= {ZERO} at all "
                   f"{len(values)} reports (every accuracy the run printed was) while the "
                   f"output states chance at {said:.3g}", HINT.format(chance=said), evidence)


RULES = (
    Rule("wrong_result.below_chance", "metrics", f"every task accuracy <= {ZERO} at all its "
         f"reports (one with >= {MIN_REPORTS}) while the output states a chance accuracy >= "
         f"{MIN_CHANCE}",
         "failure corpus: fresh255 harbor_manifest_tagger (mlx-lm trainer loss_test, "
         "indices - 1); 0 of N at chance p has probability (1 - p)^N", below_chance),
)
