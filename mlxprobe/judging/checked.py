"""Rule unit: the program's own check, printed in its output, says it failed.

Job: a training script often checks its own result at the end (a fused model against the
adapters run on the fly, a reloaded model against the one in memory, two seeded runs against
each other) and prints what it found. A line where a check names a failure (`blend check:
MISMATCH`, `sanity check failed`, `verify: FAIL`) in a run that otherwise finished is the
program's own word that its result is wrong: `wrong_result`, quoting the line. Only the tail
of the output is read (what the runner keeps: a final check is printed last).

Thresholds and why: a check word (check, verify, verification, sanity, consistency,
self-test, assertion) and after it, within 40 characters on the same line, a failure word
(mismatch, failed, fail, not ok, wrong, incorrect) not counted as none (`0 failed`, `no
mismatch`). Over every kept run of the corpus (1,104
runs) the only line of a run that exited 0 with both is fresh41 `specialist_lora_blend`'s
(`blend check: MISMATCH`: a LoRA blend fused by blending the two factors separately); lines
with a failure word and no check (`Training step failed: ...`, swallowed errors the other
rules judge) or a check and no failure (`eval check: centipawn MAE=247.4`) are not read.
A failure word in capitals that is a line's whole value (after a colon or in brackets, at the
line's end: `export: MISMATCH`, `gap = 1.3e-01 (MISMATCH)`) is a status the program set, with
or without a check word: over the 496 runs kept at stop 58 (every half of rounds 114-134, the
twins of the failures that expect `diverged` or a constant loss) the only such line is
fresh133 `kiln_gru_parity`'s (a hand-ported GRU checked against a NumPy reference; mlx PR
3252), and no correct corpus script prints one. A line that names a C or C++ source site
(`Assertion failed: pfd.revents & POLLIN (src/signaler.cpp:238)`, glibc's `file.c:12: f:
Assertion ... failed`, macOS's `file x.c, line 12`) is a native library's own `assert`
aborting, not the program's check of its result: not read. Source: the CI run of stop 51,
where libzmq asserted while a Jupyter kernel shut down after a correct notebook had finished
(nbconvert exited 0); it was read as a failed check.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import re

from ..watching.facts import RawResult
from .rule import Rule, Verdict

FAILED_CHECK = re.compile(r"(?i)\b(?:check|checks|verify|verification|sanity|consistency|"
                          r"self[- ]test|assertion)\b[^\n]{0,40}?(?<!\b0 )(?<!\bno )"
                          r"\b(?:mismatch(?:ed)?|failed|fail|not ok|wrong|incorrect)\b")
# A failure word in capitals standing as a line's whole value: after a colon, or in brackets,
# at the line's end (`export: MISMATCH`, `... = 1.3e-01 (MISMATCH)`): a status the program set.
FAILED_STATUS = re.compile(r"(?:^|:[ \t]*|[(\[][ \t]*)(?:MISMATCH(?:ED)?|FAIL(?:ED)?|NOT OK|WRONG|"
                           r"INCORRECT)[ \t]*[)\]]?[ \t]*[.!]?[ \t]*$")
NATIVE_SITE = re.compile(r"\.(?:c|cc|cpp|cxx|cu|h|hpp|m|mm)(?::\d+|, line \d+)")
LINE_CHARS = 200
HINT = ("the program's own check of its result failed (the line quoted in the reason): the "
        "training itself may be fine, what is computed from it is not. Read what the check "
        "compares and find where the two sides part: a weight fused or merged from its "
        "parts in another order than the forward applies them (a LoRA delta is `scale * "
        "(x @ A) @ B`, so a blend of adapters is the blend of their products, not the "
        "product of blended factors), a model saved or reloaded without some of its "
        "weights, an evaluation on other data or in another mode (`model.eval()`), a seed "
        "that a falsy test (`if seed:`) ignores when it is 0")


def failed_line(raw: RawResult) -> str | None:
    """The last line of the output's tail that reports a failed check, or None."""
    lines = [ln.strip() for ln in (raw.stdout_tail + "\n" + raw.stderr_tail).splitlines()]
    found = [ln for ln in lines if (FAILED_CHECK.search(ln) or FAILED_STATUS.search(ln))
             and not NATIVE_SITE.search(ln)]
    return found[-1][:LINE_CHARS] if found else None


def reported(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.watched or raw.exit_code != 0:
        return None
    line = failed_line(raw)
    if line is None:
        return None
    return Verdict("wrong_result", "check_printed", f"the program's own check says it "
                   f"failed: `{line}`", HINT, {"line": line})


RULES = (
    Rule("wrong_result.check_printed", "records", "a line of the output's tail of a run that "
         "exited 0 where a check word (check, verify, sanity, consistency, assertion) is "
         "followed within 40 characters by a failure word (mismatch, failed, fail, not ok, "
         "wrong, incorrect), or a failure word in capitals as the line's whole value after a "
         "colon or in brackets (`export: MISMATCH`)",
         "failure corpus: fresh41 specialist_lora_blend (MLX_Train a8e0530), fresh133 "
         "kiln_gru_parity (mlx PR 3252)", reported),
)
