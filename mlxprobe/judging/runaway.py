"""Rule unit: a loss that falls below zero and keeps falling, orders of magnitude past where
it began: an objective with no floor that the optimizer drives off.

Job: `diverged.runaway` on the judged loss (any name the program gives it). A loss built of
bounded terms (a cross-entropy, a squared error, a log-sigmoid preference) never goes below
0; an objective that may (a Gaussian NLL, a negative ELBO, a critic's score) settles at a
finite floor. A loss that ends negative, RUNAWAY times further from 0 than its first report
(or than 1), and still GROWING in size over the second half of the run has a term unbounded
below: a log-probability or KL-like difference added with the wrong sign, a penalty linear in
the parameters with no clamp.

Thresholds and why: measured on failure corpus fresh171 `glyph_duel_klsign` (wordle-rl-gemma
229e0f4: a 'KL' penalty `mean(logp_policy - logp_ref)` on the preferred completions, linear
and unbounded below): the loss went 0.693 -> -1419 (report 2) -> -2.6e5 (middle) -> -1.06e6
(last), the preferred answers' log-prob to -5.3e7; its twin (the sign flipped and clamped with
`mx.maximum(0, .)`) settled at 0.0000. Over every kept run of the corpus (1,119 runs, judged before
and after) no other run fires: the most negative correct loss settles.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict

RUNAWAY = 1000.0  # |last| over max(|first|, 1)
GROWING = 2.0  # |last| over |the middle report|: not settled at a floor
MIN_REPORTS = 6
TAIL = 3  # the last reports, all below zero
HINT = ("the loss fell below zero and kept falling with no floor: a loss of bounded terms (a "
        "cross-entropy, a squared error, a log-sigmoid preference) cannot, so a term of it is "
        "unbounded below and the optimizer drives it off: a log-probability or KL-like "
        "difference added with the wrong sign (`logp_policy - logp_ref` where `logp_ref - "
        "logp_policy` was meant), a penalty linear in the parameters with no clamp (bound it "
        "below: `mx.maximum(0, term)`), a likelihood maximised without its normaliser; check "
        "the sign of each term and clamp the ones that can run off")


def ran_away(values: list[float]) -> dict | None:
    """The loss's start, middle and end when it ran away below zero, else None."""
    if len(values) < MIN_REPORTS or not all(math.isfinite(v) for v in values):
        return None
    first, middle, last = values[0], values[len(values) // 2], values[-1]
    if max(values[-TAIL:]) >= 0 or middle >= 0:
        return None
    if abs(last) < RUNAWAY * max(abs(first), 1.0) or abs(last) < GROWING * abs(middle):
        return None
    return {"loss_first": first, "loss_middle": middle, "loss_last": last,
            "runaway_factor": RUNAWAY, "growing_factor": GROWING}


def runaway(raw: RawResult, meta: dict) -> Verdict | None:
    found = ran_away(program.losses(raw))
    if found is None:
        return None
    name = program.loss_name(raw)
    return Verdict("diverged", "runaway", f"`{name}` fell below zero without a floor: "
                   f"{found['loss_first']:.3g} -> {found['loss_middle']:.3g} (middle report) "
                   f"-> {found['loss_last']:.3g} (> {RUNAWAY:g}x its start, still "
                   f">= {GROWING:g}x its middle)", HINT, found)


RULES = (
    Rule("diverged.runaway", "metrics", f">= {MIN_REPORTS} finite loss reports, the last "
         f"{TAIL} and the middle one below 0, the last >= {RUNAWAY:g}x max(|first|, 1) and "
         f">= {GROWING:g}x the middle one in size", "failure corpus fresh171 "
         "glyph_duel_klsign (wordle-rl-gemma 229e0f4)", runaway),
)
