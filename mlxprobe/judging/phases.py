"""The run's phases: where a new loss curve starts inside one program's output.

Job: a program that pre-trains and then fine-tunes, trains a second model, or resumes from a
checkpoint prints two loss curves one after the other, and its own step counter starts again
at the second. Read as one curve, the second curve's start is a "spike" or an "explosion"
and the first curve's low end makes the second look like it never learned. A new phase is a
report where the program's printed counter went back (the output parser marks it `restart`)
and the loss jumped at least JUMP x the report before it AND back to at least where the
curve before it began (the median of its first WINDOW reports). The loss rules judge the
last phase. An epoch counter that restarts every epoch is no new phase: a small noisy loss
may double at an epoch boundary (measured: `cosine_decay_steps_ok`, mse ~0.03), it does not
go back to its starting level.

Thresholds and why: JUMP = 2.0, the divergence rule's own factor (a loop that learns never
doubles its loss); measured on the failure corpus (old held-out half,
`load_weights_missing_head_ok`): pre-training ends at 0.002, fine-tuning starts at 1.898
when `Iter` starts again at 50, and falls to 0.039.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..protocol import decode_number
from ..watching.facts import RawResult

JUMP = 2.0
WINDOW = 3  # the reports that say where a curve began


def last_start(raw: RawResult, losses: list[float]) -> int:
    """The index in `losses` (the run's finite losses, whole) where the last phase starts; 0
    when there is one phase or the records were thinned."""
    records = [r for r in raw.learning if decode_number(r.get("loss")) is not None]
    if len(records) != len(losses):
        return 0
    start = 0
    for i in range(1, len(losses)):
        if records[i].get("restart") and _new_curve(losses[start:i], losses[i]):
            start = i
    return start


def _new_curve(before: list[float], first: float) -> bool:
    """`first` jumped JUMP x the report before it and back to at least where the curve
    before it began (the median of its first WINDOW reports)."""
    opening = sorted(before[:WINDOW])[len(before[:WINDOW]) // 2]
    return before[-1] > 0 and first >= JUMP * before[-1] and first >= opening
