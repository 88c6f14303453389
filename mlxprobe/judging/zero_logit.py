"""Rule unit: a logistic loss pinned at ln 2, the value it takes when every logit is 0.

Job: a binary cross-entropy (or a DPO/ORPO preference loss, -log sigmoid of a margin) equals
ln 2 = 0.6931 exactly when the model's logit is 0 for every example: p = 0.5 everywhere. A
model that learns anything leaves it within a few steps (even the class prior moves it:
with 27% positives the best constant guess scores H(0.27) = 0.58); a loss that sits at ln 2
to three decimals report after report says the logit the loss sees does not move: a sigmoid
applied before a loss that applies its own (`binary_cross_entropy` takes logits by
default), a margin computed outside the gradient function (a constant 0), a DPO reference
that is the policy itself (fresh26 `dpo_selfref`: reference log-probs as
`mx.stop_gradient` of the policy's, every log-ratio 0, the loss 0.6931 at every step while
the chosen log-probs drift -5.2 -> -3.5e5), an output layer zeroed or saturated.

Thresholds and why: PINNED_REPORTS = 5 consecutive reports within TOL = 0.1% of ln 2 (the
loss printed as 0.6931-0.6932; float noise of a live model moves the fourth decimal), and
the run's last third still within END = 5% of ln 2 (a plateau that breaks into a real fall,
as a hard task's can, is never judged). Measured over every run of the failure corpus (all
halves, broken and clean, from their recorded facts): only two runs hold ln 2 for 3 or more
consecutive reports, both broken: fresh10 `b10_bce_sigmoid_twice` (8 reports at 0.6931-
0.6932, then 0.6795 at the end; its fixed twin 0.29 -> 0.05) and fresh3
`dpo_scores_outside_grad` (10 reports at 0.6931).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics

from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict

LN2 = math.log(2)
PINNED_REPORTS = 5
TOL = 0.001
END = 0.05
HINT = ("the loss sits at ln 2 = 0.6931, the value a logistic loss takes when every logit is "
        "0 (p = 0.5 for every example): the logit the loss sees does not move. "
        "`nn.losses.binary_cross_entropy` takes raw logits by default (`with_logits=True`): "
        "pass `logits`, not `mx.sigmoid(logits)` (a sigmoid before it squashes every "
        "prediction into (0.5, 0.73)), or pass `with_logits=False` for probabilities; a "
        "preference margin (DPO/ORPO) must be computed inside the function you "
        "differentiate, against a reference that is not the policy itself: reference "
        "log-probs taken from the current policy (`mx.stop_gradient(policy_logps)`, the same "
        "model called twice) make every log-ratio 0 in value, so the loss is ln 2 at every "
        "step while the policy drifts; use a frozen copy of the starting model, or "
        "precompute the reference log-probs once before training; a contrastive (InfoNCE) "
        "loss over a positive and one negative is ln 2 when the two always score the same: "
        "a negative that is the positive itself (`negative_emb = positive_emb` where the data "
        "has no negatives: fresh376 `quarry_ledger_infonce`, mlx-embeddings-lora b92ac6c) "
        "gives every row log(2) and a zero gradient; take in-batch negatives instead, the "
        "other rows' positives (`mx.roll(positive_emb, 1, axis=0)`, or the whole similarity "
        "matrix `anchor @ positive.T` with labels `mx.arange(B)`); and the output layer must "
        "not be zeroed or saturated")


def at_ln2(value: float) -> bool:
    return math.isfinite(value) and abs(value - LN2) <= TOL * LN2


def longest_pin(losses: list[float]) -> int:
    """The most consecutive reports within TOL of ln 2."""
    best = run = 0
    for value in losses:
        run = run + 1 if at_ln2(value) else 0
        best = max(best, run)
    return best


def pinned(raw: RawResult, meta: dict) -> Verdict | None:
    if program.two_player(raw):
        return None  # a GAN's discriminator at ln 2: the equilibrium it seeks
    losses = program.losses(raw)
    pin = longest_pin(losses)
    tail = [v for v in losses[-max(1, len(losses) // 3):] if math.isfinite(v)]
    if pin < PINNED_REPORTS or not tail:
        return None
    end = statistics.median(tail)
    if abs(end - LN2) > END * LN2:
        return None
    return Verdict("not_learning", "zero_logit", f"the loss sat at ln 2 = {LN2:.4f} (within "
                   f"{TOL:.1%}) for {pin} consecutive reports and ended at {end:.4f} (within "
                   f"{END:.0%} of it): every logit the loss sees is ~0", HINT,
                   {"pinned_reports": pin, "min_pinned": PINNED_REPORTS, "tolerance": TOL,
                    "last_third_median": round(end, 4), "end_within": END})


RULES = (
    Rule("not_learning.zero_logit", "metrics", f">= {PINNED_REPORTS} consecutive loss reports "
         f"within {TOL:.1%} of ln 2 and the last third's median within {END:.0%} of it",
         "failure corpus: b10_bce_sigmoid_twice (fresh10), dpo_scores_outside_grad (fresh3); "
         "no clean run holds ln 2 for 3 reports", pinned),
)
