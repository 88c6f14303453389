"""Rule unit: the run's closing count of what it trained on is 0, after it trained.

Job: a trainer that prints or returns its totals at the end (`Tokens: 0`, `trained_tokens 0`,
`samples 0`) says how much it consumed. After the loop made MIN_UPDATES optimizer updates or
more, a count of trained items that ends at exactly 0 is a wrong number, the run itself
healthy: the totals miss what the loop did. The known shape: a loop left between two logging
points (an early stop, a cancel) whose window since the last log is never folded into the
totals, so a stop before the first log returns 0 tokens and a loss of 0 (unsloth-zoo
ccb86bf); a counter reset where it should accumulate gives the same.

Thresholds and why: the name counts what training consumed: tokens, samples, examples,
sequences or batches, alone or after `trained`, `total`, `seen`, `processed`, `num` or `n`
(`COUNT`), and the line says so with no other word before the count than those (`STATED`: the
parser keeps only the count's own word, and `skipped batches: 0`, `dropped samples 0`, `pad
tokens 0`, `oov tokens 0` are good news, not totals); its last report is exactly 0, after every
other report of the run's progress (a closing summary; a window counter printed at 0 mid-run is
followed by more) and after >= MIN_UPDATES updates (the bootstrap's update records before it; a
program that updates by hand: the report's own step). Measured over the kept raw facts of
fresh303-fresh335 (394 runs): 8 runs print such a count (`examples`, `batches`, `tokens`,
`trained_tokens`), and one ends it at 0: fresh335 `quillmere_ballad_lm` (unsloth-zoo ccb86bf;
early stopping at step 40 before the first log at step 50: `Avg loss: 0.0000 | Steps: 40 |
Tokens: 0`; its fixed twin: `Tokens: 5120`).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import bisect
import re

from ..protocol import PROGRESS, decode_number
from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict

QUALIFIERS, ITEMS = r"trained|total|seen|processed|num|n", \
    r"tokens?|samples?|examples?|sequences?|seqs|batches"
COUNT = re.compile(rf"^(?:(?:{QUALIFIERS})_)?(?:{ITEMS})(?:_(?:trained|seen|processed))?$",
                   re.IGNORECASE)
# the count as the program's last lines write it: at a line's start or after a separator, or
# after one of COUNT's own qualifiers, then its value 0
STATED = re.compile(rf"(?i)(?:^\s*|[|,;(]\s*|\b(?:{QUALIFIERS})[ _])(?:{ITEMS})\s*[:=]?\s*"
                    r"0(?:\.0+)?(?![\d.])", re.MULTILINE)
LAST_LINES = 10
MIN_UPDATES = 10
HINT = ("the run's closing `{name}` is 0 after {updates} updates: the totals it prints or "
        "returns miss what the loop did. A loop left between two logging points (an early "
        "stop, a cancel, the last partial window) must fold the window since the last log "
        "into the totals after the loop (`if steps_since_log > 0: log(...)`, as unsloth-zoo "
        "ccb86bf does); a counter must accumulate (`total += n`), not be reset at each log. "
        "Check the returned loss beside it too: it covers the same windows")


def closing_zero(raw: RawResult) -> tuple[str, dict] | None:
    """(name, record) of a trained-items count whose last report is 0 and comes after every
    other progress report's step."""
    reports = raw.of_kind(PROGRESS)
    last_step = max((r.get("step") or 0 for r in reports), default=0)
    found: dict[str, tuple[dict, float | None]] = {}  # each count's last report and value
    for record in reports:
        for name, value in (record.get("metrics") or {}).items():
            if COUNT.match(name):
                found[name] = (record, decode_number(value))
    return next(((name, record) for name, (record, value) in found.items()
                 if value == 0 and (record.get("step") or 0) >= last_step), None)


def stated(raw: RawResult) -> bool:
    """The program's last lines state a bare or qualified total of 0 (`STATED`)."""
    return bool(STATED.search("\n".join(raw.stdout_tail.splitlines()[-LAST_LINES:])))


def updates_before(raw: RawResult, record: dict) -> int:
    """The updates counted before the record arrived; its step where none were counted."""
    times = program.update_times(raw)
    if times is None:
        return int(record.get("step") or 0)
    return bisect.bisect_right(times, float(record.get("t", 0.0)))


def zero_count(raw: RawResult, meta: dict) -> Verdict | None:
    found = closing_zero(raw) if raw.watched and stated(raw) else None
    if found is None:
        return None
    name, record = found
    updates = updates_before(raw, record)
    if updates < MIN_UPDATES:
        return None
    return Verdict("wrong_result", "zero_count", f"the run's closing `{name}` is 0 after "
                   f"{updates} optimizer updates (>= {MIN_UPDATES}): its totals miss what the "
                   "loop did", HINT.format(name=name, updates=updates),
                   {"metric": name, "value": 0, "updates": updates,
                    "at_step": record.get("step"), "min_updates": MIN_UPDATES})


RULES = (
    Rule("wrong_result.zero_count", "metrics", "a count of trained tokens, samples, examples, "
         "sequences or batches whose last report, after every other report's step, is 0 "
         f"after >= {MIN_UPDATES} optimizer updates", "failure corpus: fresh335 "
         "quillmere_ballad_lm (unsloth-zoo ccb86bf)", zero_count),
)
