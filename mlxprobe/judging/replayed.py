"""Rule unit: training that starts again from the same state, its loss curve replayed value for
value.

Job: mini-batch losses are exact floats of the model's state and of the batch; two
stretches of training that print the same losses, value for value, in the same order, ran
from the same parameters on the same data. When the second stretch comes after more
updates, the updates in between were lost: the run started again from where it had
started (a resume that found no checkpoint and fell back to a fresh start, a model
re-initialised or reloaded from its initial weights between sessions). The job finishes and
each session's loss falls; what the run was meant to produce (training carried on from the
checkpoint) never is.

Thresholds and why: WINDOW (3) consecutive reports of the loss, each printed with >= DIGITS
(3) significant digits, all different, and the largest >= SPREAD (1.5x) the smallest (a
falling stretch: a plateau printed with few digits repeats by chance, measured: a converged
mse of 0.0002, 0.0002, 0.0001 and a GRPO loss of 0.0235, 0.0255, 0.0255 each reappeared in
clean runs), repeated exactly later in the run, the later copy starting after the first ends
and each of its reports after more optimizer updates than the one before (new training, not
a history printed again at the end; only where the watch counts updates). Exact float
equality over three reports of a falling loss does not happen by chance. Measured: fresh50
`resume_adapter_glob` (Soup PR 639: the resolver looked for `checkpoint-N` directories, the
loop wrote `NNNNNNN_adapters.safetensors`): losses 0.6913, 0.1455, 0.1056 in each of three
sessions, after 50-150, 200-299 and 350-449 updates; its fixed twin resumes (0.1302, 0.0761,
0.0528 in session 2). Over every kept run of the corpus, no other run fires.

A script that trains the same model twice from the same state on purpose prints each arm
under its own label (`[sequential] ...`, `[agem] ...`): where the output's tail still holds
the lines of both copies and they differ in their words, the rule stands down
(`labelled_arms`). Known limit: a determinism check that prints both runs in one shape
(eager against compiled, unlabelled) replays its losses too and reads as this verdict; its
evidence says which reports repeat, so such a run is told apart by reading it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import re

from ..watching import fields
from ..watching.facts import RawResult
from . import program
from .constant import digits as significant  # significant digits as printed
from .readings import reports
from .rule import Rule, Verdict

NUMBERS = re.compile(fields.NUMBER)
WINDOW = 3
SPREAD = 1.5
DIGITS = 3
HINT = ("the loss curve from update {first} was printed again, value for value, from update "
        "{again}: training started over from the same state, and the updates in between "
        "were lost. Check that the resume really loads: the checkpoint it looks for must be "
        "the one the save writes (a resolver that looks for `checkpoint-N` directories where "
        "the loop writes `0000150_adapters.safetensors` files, a glob or file name pattern "
        "that matches nothing, a path joined wrong), that it fails loudly when it finds "
        "nothing instead of starting from scratch, and that the model is not re-initialised "
        "or reloaded from its initial weights between sessions; the step counter should "
        "continue where the last session ended")


def replay(values: list[tuple[int, float]]) -> tuple[int, int] | None:
    """(report index of the first copy, of the second) of a repeated window, or None: each
    window's first start kept in a dict, so a run of many reports costs one pass."""
    numbers = [v for _, v in values]
    first: dict[tuple[float, ...], int] = {}
    for j in range(len(values) - WINDOW + 1):
        later = tuple(numbers[j:j + WINDOW])
        i = first.setdefault(later, j)
        if i <= j - WINDOW and _telling(list(later)) and _new_training(values[j:j + WINDOW]):
            return i, j
    return None


def _telling(window: list[float]) -> bool:
    """Values that could not repeat by chance: each printed with >= DIGITS significant
    digits, all different, the largest >= SPREAD x the smallest (a falling stretch, not a
    plateau, nor a metric of a few levels: fresh57 `lifting_wavelet_sparsity`, correct, whose
    float32 round-off error printed only 2.38e-07 and 4.77e-07)."""
    low = min(window)
    return low > 0 and max(window) >= SPREAD * low and len(set(window)) == len(window) and all(
        significant(v) >= DIGITS for v in window)


def _new_training(window: list[tuple[int, float]]) -> bool:
    done = [d for d, _ in window]
    return all(b > a for a, b in zip(done, done[1:]))


def labelled_arms(text: str, value: float) -> bool:
    """The output lines that print `value` (the repeated window's first loss) differ in their
    words: two arms of a comparison, each labelled (`[sequential] harbor 0 step 1 ... loss
    1.3528`, `[agem] harbor 0 step 1 ... loss 1.3528`), trained from the same state on purpose
    (fresh261 `hullscan_harbor_agem`, correct: plain fine-tuning against A-GEM, whose first
    task's curves agree until its first projected update). A resume that loaded nothing prints
    its sessions in one shape. Only lines still in the output's tail are read; with fewer than
    two of them the replay judges."""
    shapes = {NUMBERS.sub("#", line.strip()) for line in text.splitlines()
              if value in numbers_in(line)}
    return len(shapes) >= 2


def numbers_in(line: str) -> set[float]:
    return {float(token) for token in NUMBERS.findall(line)}


def replayed(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    named = reports(raw, times) if times else {}
    loss = program.loss_name(raw) if named else None
    values = named.get(loss or "", [])
    found = replay(values)
    if found is None:
        return None
    i, j = found
    first, again = values[i][0], values[j][0]
    window = [v for _, v in values[j:j + WINDOW]]
    if labelled_arms(raw.stdout_tail or "", window[0]):
        return None
    return Verdict("wrong_result", "replayed", f"`{loss}` read {window} after {first} updates "
                   f"and again, value for value, after {again}: the run trained again from "
                   "the same state", HINT.format(first=first, again=again),
                   {"metric": loss, "values": window, "first_after": first,
                    "again_after": again, "window": WINDOW})


RULES = (
    Rule("wrong_result.replayed", "metrics", f">= {WINDOW} consecutive loss reports (each "
         f">= {DIGITS} significant digits, the largest >= {SPREAD:g}x the smallest) repeated "
         "exactly later in the run, the later copy after the first ends and each of its "
         "reports after more optimizer updates than the one before; not where the lines "
         "printing the two copies differ in their words (two labelled arms)",
         "failure corpus: fresh50 resume_adapter_glob (Soup PR 639)", replayed),
)
