"""Rule unit: a held-out loss below the entropy floor the program itself states.

Job: a cross-entropy (or NLL, bits per character) of a model on data it did not train on can
approach the data's own entropy, never go below it: no model predicts a token better than
the process that made it. A program that prints that floor (`entropy-rate floor: 1.445
nats/token`, `true chain entropy 1.465 nats`) and reports a held-out loss below it by more
than its sampling noise has a model that reads the answer: a position sees the token it is
asked to predict (a padding mask given as the whole attention mask, a boolean mask added to
the scores, a causal mask missing), the labels are not shifted against the inputs, or the
targets are among the inputs. The run looks excellent and is wrong.

Thresholds and why: the floor from a line of the program's output that names it as the data's
entropy (`entropy floor`, `entropy-rate`, `true`/`chain`/`source`/`data`/`irreducible`/`bayes
... entropy`; not a bare `floor`: fresh117 `paraglide_launch_kfold_smooth`, correct, states a
label-smoothed loss's floor, 0.291 nats, which an unsmoothed held-out loss may pass) and gives
its unit (nats or bits) after the number, or, with no unit, states it after a held-out loss
not in bits on its own line (fresh195 `bigcode_motif`, mlx-lm 103877e: `Val loss 0.002 (entropy
floor 0.693)`, a causal mask never built; its twin 0.703); a held-out
loss (a split word and a loss word in its name, `heldout_nll`, `teacher_forced_val_ce`, or
a bare `val`/`test` beside the training loss of its record) in the same unit family, its
last TAIL reports all below the floor by more than MARGIN (5%). Measured: failure corpus
fresh183 `patchcap_imgblock_mask` (unsloth-zoo: a padding outer product as an image
captioner's attention mask) val 0.111 against a stated floor of 0.879 nats/token, its twin
0.998; fresh170 `softcap_markov_lm` (mlx-lm PR 27: a boolean causal mask added to the
scores) heldout_nll 1.330 and 1.317 against 1.445, its twin 1.443-1.447 (0.1% below);
fresh46 `unset_attn_mask_lm` teacher-forced val CE 0.0625 against 1.465, its twin's lowest
1.4376 (1.9% below: the sampling noise a 5% margin leaves room for). Over every kept run of
the corpus no correct run fires.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from .. import metric_names
from ..protocol import PROGRESS
from ..watching.facts import RawResult
from .rule import Rule, Verdict

MARGIN = 0.05
TAIL = 2
FLOOR = re.compile(
    r"(?i)\b(?:entropy[- ]rate|entropy\s+floor|(?:true|chain|source|data|irreducible|bayes)"
    r"\s+(?:[a-z]+\s+)?entropy)\b[^\d\n]{0,40}?(\d*\.\d+|\d+)(?:\s*(nats?|bits?)\b)?")
SPLITS = frozenset({"val", "valid", "validation", "test", "dev", "heldout", "holdout", "held"})
LOSSES = frozenset({"ce", "nll", "xent", "loss", "bpc", "bpb", "logloss"})
BITS = frozenset({"bpc", "bpb", "bits"})
HINT = ("a held-out loss below the entropy floor the program states ({value:.4g} against "
        "{floor:.4g} {unit}): no model predicts held-out data better than the process that "
        "made it, so the model reads the answer. A position attends to the token it is asked "
        "to predict: a padding mask used as the whole attention mask (build the causal mask, "
        "`mx.tril(mx.ones((L, L), dtype=mx.bool_))`, and combine it with the padding), a "
        "boolean mask added to the scores (True and False add 1 and 0: select with "
        "`mx.where(mask, scores, -inf)`), a mask never passed down, future tokens visible; or "
        "labels not shifted against the inputs, or the targets among the inputs")


def stated_floor(text: str) -> tuple[float, str] | None:
    """The last entropy floor a line of the output states, and its unit (nats or bits)."""
    found = [m for m in FLOOR.finditer(text) if m.group(2) or beside_held_out(text, m)]
    if not found:
        return None
    last = found[-1]
    return float(last.group(1)), "bits" if (last.group(2) or "").lower().startswith(
        "bit") else "nats"


def beside_held_out(text: str, found: re.Match[str]) -> bool:
    """A floor stated with no unit, on the line of a held-out loss in nats (`Val loss 0.002
    (entropy floor 0.693)`): the program compares the two, so they share a unit."""
    line = text[text.rfind("\n", 0, found.start()) + 1:found.start()]
    words = set(metric_names.words(line))
    return bool(SPLITS & words) and bool(LOSSES & words) and not BITS & words


def held_out_loss(name: str, beside_loss: bool) -> bool:
    """`heldout_nll`, `teacher_forced_val_ce`, `val_bpc`; a bare `val` beside a training loss."""
    words = metric_names.words(name)
    if not SPLITS.intersection(words):
        return False
    return bool(LOSSES.intersection(words)) or (len(words) == 1 and beside_loss)


def held_out_series(raw: RawResult, unit: str) -> dict[str, list[float]]:
    """Each held-out loss of that unit family, its values in report order."""
    series: dict[str, list[float]] = {}
    for record in raw.of_kind(PROGRESS):
        for name, value in (record.get("metrics") or {}).items():
            in_bits = bool(BITS.intersection(metric_names.words(name)))
            if isinstance(value, (int, float)) and (unit == "bits") == in_bits and \
                    held_out_loss(name, record.get("loss") is not None):
                series.setdefault(name, []).append(float(value))
    return series


def below(raw: RawResult) -> dict | None:
    stated = stated_floor(raw.stdout_tail or "")
    if stated is None or stated[0] <= 0:
        return None
    floor, unit = stated
    hits = [(name, values[-1]) for name, values in held_out_series(raw, unit).items()
            if len(values) >= TAIL and all(math.isfinite(v) and 0 <= v < floor * (1 - MARGIN)
                                           for v in values[-TAIL:])]
    if not hits:
        return None
    name, value = min(hits, key=lambda h: h[1])
    return {"held_out_loss": name, "last": value, "floor": floor, "unit": unit,
            "margin": MARGIN, "tail_reports": TAIL}


def below_floor(raw: RawResult, meta: dict) -> Verdict | None:
    found = below(raw)
    if found is None:
        return None
    value, floor, unit = found["last"], found["floor"], found["unit"]
    return Verdict("wrong_result", "below_floor", f"`{found['held_out_loss']}` ended at "
                   f"{value:.4g}, {1 - value / floor:.0%} below the entropy floor the program "
                   f"states ({floor:g} {unit}) at each of its last {TAIL} reports",
                   HINT.format(value=value, floor=floor, unit=unit), found)


RULES = (
    Rule("wrong_result.below_floor", "metrics", f"a held-out loss's last {TAIL} reports all "
         f"more than {MARGIN:.0%} below an entropy floor (nats or bits) the program's output "
         "states", "failure corpus fresh183 patchcap_imgblock_mask (unsloth-zoo fd9bbea), "
         "fresh170 softcap_markov_lm (mlx-lm PR 27)", below_floor),
)
