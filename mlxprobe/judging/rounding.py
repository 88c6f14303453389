"""Rule unit: most values of the low-precision weight matrices never change: updates below
half a unit in the last place of bfloat16/float16 round away.

Job: a model trained in bfloat16 (8 bits of mantissa) or float16 without float32 master
weights applies each update to the stored weight and rounds: an update smaller than half
the weight's ulp is lost (at |w| ~ 0.05 a bfloat16 ulp is ~2.4e-4, so Adam at lr 2e-5
moves nothing but the values near 0, the zero-initialised biases). The parameter looks
(`inside/params.py`) give, for each bfloat16/float16 weight matrix, the share of its
sampled values still bit-identical to the first look; the median over the matrices at the
last look is the evidence. Loss and accuracy may still creep (biases and the few small
weights train), so this is told from the parameters, not the metrics.

Thresholds and why: after at least MIN_UPDATES optimizer updates between the first and the
last look (any lr an optimizer applies in float32 changes every sampled value within a few
updates), in at least MIN_LOOKS looks, at least SAME_SHARE of the sampled values still at
their first value. Stands down when a look saw a non-finite value, when the loss fell by
LEARNED or more, or there is nothing left to learn (`program.converged`): a bfloat16
classifier trained with Lion at 3e-4 (corpus `fresh/bf16_numpy_metrics_ok`) keeps 56% of
its sampled values from update 129 on and still learns to val_nll 0.003. Measured (failure
corpus fresh3, `bf16_weights_stuck`, unsloth-zoo PR 684, Adam lr 2e-5 in bfloat16): 59% of
the sampled values unchanged over 560 updates, the loss 1.31 -> 1.12 (-14%); its float32
twin: loss 1.19 -> 0.13.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..protocol import PARAMS
from ..watching.facts import RawResult
from . import params, schedule
from .rule import Rule, Verdict

MIN_UPDATES = 100
MIN_LOOKS = 3
SAME_SHARE = 0.5
LEARNED = 0.5
HINT = ("updates smaller than half a unit in the last place of the weights' {dtype} round "
        "away: keep float32 master weights (train in float32: `model.set_dtype(mx.float32)`, "
        "cast to {dtype} for inference or for the forward pass only), or raise the learning "
        "rate; bfloat16 keeps 8 bits of mantissa, float16 11")


def low_looks(raw: RawResult) -> list[dict]:
    return [r for r in raw.of_kind(PARAMS) if "low_same_share" in r]


def learned(raw: RawResult) -> bool:
    """The loss fell by LEARNED, or there is nothing left to learn: a model that learns well
    despite its rounded weights is never judged."""
    return schedule.learned(raw, LEARNED)


def rounded(raw: RawResult, meta: dict) -> Verdict | None:
    found = low_looks(raw)
    if len(found) < MIN_LOOKS or params.nonfinite_seen(raw):
        return None
    span = int(found[-1].get("updates", 0)) - int(found[0].get("updates", 0))
    share = float(found[-1]["low_same_share"])
    if span < MIN_UPDATES or share < SAME_SHARE or learned(raw):
        return None
    dtype = params.low_precision(raw) or "bfloat16/float16"
    ev = {"low_same_share": share, "low_matrices": found[-1].get("low_matrices"),
          "updates": span, "looks": len(found), "min_updates": MIN_UPDATES,
          "same_share_min": SAME_SHARE}
    return Verdict("no_update", "rounded", f"{share:.0%} of the sampled values of the "
                   f"{dtype} weight matrices (median of {ev['low_matrices']}) never changed "
                   f"over {span} optimizer updates", HINT.format(dtype=dtype), ev)


RULES = (
    Rule("no_update.rounded", "params", f"the median share of sampled bfloat16/float16 "
         f"weight-matrix values unchanged since the first look >= {SAME_SHARE:.0%} after "
         f">= {MIN_UPDATES} updates in >= {MIN_LOOKS} looks; the loss fell < {LEARNED:.0%}, "
         "not at its floor", "failure corpus: "
         "bf16_weights_stuck (unsloth-zoo PR 684: updates below bfloat16's resolution)",
         rounded),
)
