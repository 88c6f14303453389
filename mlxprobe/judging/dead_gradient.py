"""Hint unit: a printed gradient norm that was positive and then exactly 0 at every report.

Job: when a run that does not learn prints a gradient norm that was above 0 at its first
report and exactly 0 at each of its last MIN_ZEROS or more, the loss stopped depending on the
parameters after the first updates: a value in the forward pass saturated into a constant.
In half precision the usual cause is an overflow: a sum of squares (a norm, a variance) or
an `exp` computed in float16 passes 65504, becomes inf, and `x / inf` or `exp(-inf)` gives
exact zeros or one constant whatever the weights; else units that died (every ReLU input
below 0) or a clip held at its bound. The generic not-learning hint does not say that the
gradient itself went to 0. Only a hint: it never makes a verdict.
Measured: fresh366 `tidepool_ledger_fp16_retriever` (mlx-embed-finetune 51756d7: an L2
normalisation in float16 whose norm overflowed once LoRA pushed it past 256, every embedding
0, InfoNCE at ln 32 = 3.4657): grad norm 0.9017 at step 1, 0.0000 at the 12 reports after;
with the embeddings cast to float32 before the norm it trained (3.14 -> ~1.3).
Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import metrics

MIN_ZEROS = 3
HINT = ("the printed gradient norm was {first:g} at its first report and exactly 0 at each of "
        "its last {zeros}: after the first updates the loss stopped depending on the "
        "parameters. In float16 or bfloat16 the usual cause is an overflow: a norm, variance "
        "or `exp` computed in half precision passes 65504, becomes inf, and `x / inf` or "
        "`exp(-inf)` gives exact zeros (an L2 normalisation of embeddings whose norm grew past "
        "~256): cast to float32 before the reduction (`x = x.astype(mx.float32)` ahead of "
        "`mx.linalg.norm`), and back after it; else units that died (every ReLU input below "
        "0) or a clip held at its bound. ")


def note(raw: RawResult) -> str:
    """HINT when the gradient norm went from positive to exactly 0 and stayed there."""
    values = [v for _, v in metrics.series(raw).get("grad_norm", [])]
    zeros = next((i for i, v in enumerate(reversed(values)) if v != 0), len(values))
    if len(values) <= zeros or zeros < MIN_ZEROS or not values[0] > 0:
        return ""
    return HINT.format(first=values[0], zeros=zeros)
