"""Rule unit: a held-out error that ends far worse than the trivial predictor the program
itself compares it with.

Job: a program that prints a baseline for its held-out error (`baseline (predict train mean)
val mse: 423.4`, `final val MAE ... (persistence 1.52)`, `naive (train-mean) val MAE = 0.44`)
states what a model that learned nothing scores. A model that ends BAD times worse than that
has not learned the task: its updates never reached the scale of the targets (an
optimizer's state read under a key it is never written under, so each step stays ~sqrt(eps);
a learning rate orders of magnitude too small for the targets' units; targets at another
scale than the predictions).

Thresholds and why: the baseline from a line of the output holding a baseline word (`baseline`,
`mean predictor`, `predict ... mean`, `naive`, `climatology`, `persistence`) and every word of
the held-out error's name but its split word (`mse` for `val_mse`): the first number after the
baseline word, or after the first of each of those words where they follow it (a line that
states baselines of two metrics, `majority valid_acc 0.286; uniform guess CE 1.3863`, gives
`valid_ce` the second), unless a bound on the best error (`BEST`: a noise floor, an oracle) is
named between the baseline word and that number. The held-out error (`metric_names.held_out`,
role loss) at its last TAIL reports all >= BAD x that baseline. Measured: failure corpus
fresh186 `kiln_glaze_adadelta` (mlx ed9aa07, AdaDelta's state read as "s" and written as "u"):
val_mse 1.01e6 against a stated baseline of 423.4 (2,390x); its fixed twin 328.6 (0.78x). Over
every kept corpus run whose output pairs a held-out error with such a line, the worst correct
ratio is 1.04 (fresh146 `espresso_profile_vae_cyclic_dist`, a held-out reconstruction beside a
baseline of another scale); BAD = 1.5 leaves that margin.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

BAD = 1.5
TAIL = 2
BASELINE = re.compile(r"(?i)\b(?:baseline|mean[- ]predictor|predict(?:s|ing)?(?: the)?(?: train)?"
                      r"[- ]mean|naive|climatology|persistence)\b")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# what the best model can reach, not what a model that learned nothing scores: a number
# stated after one of these words is that bound's (`val blend baseline: MSE vs clean 0.00693;
# noise floor vs noisy target 0.00250`: fresh362 `tween_gull_midframe`, correct, read as a
# baseline of 0.0025 for `val_mse_noisy`, which ended at its floor's 2.2x)
BEST = re.compile(r"(?i)\b(?:floor|ceiling|bound|oracle|optimum|optimal|bayes|irreducible)\b")
SPLITS = frozenset({"val", "valid", "validation", "test", "dev", "heldout", "holdout", "held",
                    "out", "eval"})
HINT = ("the model ends {ratio:.0f}x worse on held-out data than the trivial predictor the "
        "program compares it with ({value:.4g} against {base:.4g}): its updates never "
        "reached the targets' scale. Check the optimizer's state (a hand-written optimizer "
        "that reads a state key it never writes, `state.get(\"s\", zeros)` beside "
        "`state[\"u\"] = u`, restarts that state at zero every step), the learning rate "
        "against the targets' units (standardise the targets, or scale the rate), and that "
        "predictions and targets share a scale")


def stated_baseline(text: str, name: str) -> float | None:
    """The last baseline a line of the output states for the error `name`."""
    core = [w for w in metric_names.words(name) if w not in SPLITS]
    found = None
    for line in text.splitlines():
        at = BASELINE.search(line)
        after = named_after(line, at.end(), core) if at else 0
        number = NUMBER.search(line, after) if at else None
        if number and core and set(core) <= set(metric_names.words(line)) and (
                after > at.end() or _beside(line, at, core)) and not BEST.search(
                    line, at.end(), number.start()):
            found = float(number.group(0))
    return found


def _beside(line: str, at: re.Match, core: list[str]) -> bool:
    """The error's name stands right before the baseline word, its own value at most between
    (`val MAE 3.2 (persistence 1.52)`); not another metric's (`val_bce 0.3357 AP 0.4210
    (prevalence baseline 0.0555)`: the baseline is AP's, fresh333
    `fleecetable_darkfibre_restarts`, correct, read as 5.7x worse than it)."""
    ends = [m.end() for w in core for m in _word(w).finditer(line[:at.start()])]
    return bool(ends) and len(NUMBER.findall(line[max(ends):at.start()])) <= 1


def _word(word: str) -> re.Pattern:
    """`word` standing alone (`mae` in `val_mae`, not in `maes`)."""
    return re.compile(rf"(?i)(?<![a-z]){re.escape(word)}(?![a-z])")


def named_after(line: str, start: int, core: list[str]) -> int:
    """Where the baseline's number is read from: after the error's own name when the line
    names it after the baseline word (`baseline: majority valid_acc 0.286; uniform CE
    1.3863` states 1.3863 for `valid_ce`, fresh288 `quiltframe_selu_resume`), else right
    after the baseline word (`val MAE 3.2 (persistence 1.52)`)."""
    firsts = [_word(w).search(line[start:]) for w in core]
    return start + max(m.end() for m in firsts) if firsts and all(firsts) else start


def worse(raw: RawResult) -> dict | None:
    text = raw.stdout_tail or ""
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points][-TAIL:]
        if not (metric_names.held_out(name) and metric_names.role(name) == metric_names.LOSS):
            continue
        base = stated_baseline(text, name)
        if base and base > 0 and len(values) == TAIL and all(
                math.isfinite(v) and v >= BAD * base for v in values):
            return {"held_out_error": name, "last": values[-1], "baseline": base,
                    "ratio": round(values[-1] / base, 2), "bad": BAD, "tail_reports": TAIL}
    return None


def worse_than_baseline(raw: RawResult, meta: dict) -> Verdict | None:
    found = worse(raw)
    if found is None:
        return None
    value, base = found["last"], found["baseline"]
    return Verdict("not_learning", "worse_than_baseline", f"`{found['held_out_error']}` ended "
                   f"at {value:.4g}, {found['ratio']:g}x the baseline the program states "
                   f"({base:g}), at each of its last {TAIL} reports (>= {BAD:g}x)",
                   HINT.format(ratio=found["ratio"], value=value, base=base), found)


RULES = (
    Rule("not_learning.worse_than_baseline", "metrics", f"a held-out error's last {TAIL} "
         f"reports all >= {BAD:g}x the baseline (mean predictor, naive, persistence) a line "
         "of the output states for it", "failure corpus fresh186 kiln_glaze_adadelta (mlx "
         "ed9aa07)", worse_than_baseline),
)
