"""Rule unit: one of MLX's own error messages printed in the middle of a run that went on and
exited 0: an exception was caught, printed and stepped over.

Job: a training script that wraps a checkpoint load, a step or a save in a broad `except` and
prints the exception goes on without what raised: a resume that loaded nothing trains again
from fresh weights, a skipped step never updates. The run finishes and its loss falls; the
only trace is the message, MLX's own text (`Module does not have parameter named "2"`), in
the output. The message is read with the crash table (`known_errors`), so only MLX's error
texts count, never a program's own warnings.

Thresholds and why: a line of the output's tail of a run that exited 0 matching a known MLX
error, with a progress report (as the watch's output parser reads one) printed before it and
another after it: the error came while training ran, and training went on. A message printed
before the first report (a start-up probe that falls back, a feature test) is not read.
Measured over every run whose raw facts were kept (384 runs, fresh222-fresh247): the only run
with such a line is fresh247 `wickerwork_denoise_resume`'s broken twin (DeepFilterNet4
070ba08: a hand-written unflatten made `{'layers': {'0': ...}}`, `model.update` raised, the
loader printed `Failed to load checkpoint: Module does not have parameter named "2".` and
each of three sessions trained from scratch); its fixed twin prints none.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from ..watching.output import ProgressParser
from . import known_errors
from .rule import Rule, Verdict

LINE_CHARS = 200
HINT = ("the program caught an MLX error and went on without what raised it: {cause} Do not "
        "catch it and continue (a broad `except` around a checkpoint load, a step or a save "
        "turns a failed resume into training from fresh weights, a failed step into no "
        "update): let it raise, or fix what the message names; fix: {fix} (seen in {source})")


def caught_line(raw: RawResult) -> tuple[str, known_errors.KnownError] | None:
    """The first known MLX error line with a progress report before it and one after it."""
    parser, reported, found = ProgressParser(), False, None
    for line in raw.stdout_tail.splitlines():
        known = known_errors.find(line) if reported and found is None else None
        if known is not None:
            found = (line.strip()[:LINE_CHARS], known)
            continue
        if parser.parse(line) is not None:
            if found is not None:
                return found
            reported = True
    return None


def caught(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.exit_code != 0:
        return None
    found = caught_line(raw)
    if found is None:
        return None
    line, known = found
    return Verdict("wrong_result", "caught_error", f"an MLX error was printed while training "
                   f"ran and the run went on: `{line}` ({known.name})",
                   HINT.format(cause=known.cause.rstrip(".") + ".", fix=known.fix,
                               source=known.source),
                   {"line": line, "error": known.name})


RULES = (
    Rule("wrong_result.caught_error", "records", "a line of the output's tail of a run that "
         "exited 0 matching a known MLX error message, with a progress report before it and "
         "one after it", "failure corpus: fresh247 wickerwork_denoise_resume (DeepFilterNet4 "
         "070ba08)", caught),
)
