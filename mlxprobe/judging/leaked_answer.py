"""Rule unit: the training loss falls to nothing while the held-out loss never improves.

Job: a model whose training loss goes to ~0 has found its answer in what it is shown at
training. When the same model, scored on held-out data, never gets better than its first
evaluation and ends two orders of magnitude above the training loss, what it found at training
is not there at evaluation: the answer leaks into the training input (an attention mask
handed in that replaces the causal mask, so each position sees the token it predicts; labels
not shifted against the inputs; the target among the features), or the training data never
changes. `memorised` reads the held-out loss rising far past its start; this unit reads a
held-out loss that rose a little and never fell, against a training loss at its floor.

Its class is `wrong_result`, as `below_floor`'s (the held-out side's leak) is: the model
learns, and the training loss it reports is the number that lies (fresh194
`sigilcopy_padmask`, the same mask bug as fresh110's, was expected `wrong_result`; fresh110
expected either). It keeps its place among the `not_learning` rules (after `memorised`).

Thresholds and why: since the program's counter last restarted (`phases.since_restart`),
>= MIN_REPORTS training losses, the first positive and the last <= FLOOR x it (and >= 0);
a held-out loss (`metric_names.held_out_loss`) with >= MIN_REPORTS evaluations, none below
its first, the last above it and >= GAP x the last training loss. Measured: failure corpus
fresh110 `caption_lm_padmask_causal` (mlx-vlm PR 1392: the 2-D padding mask passed as the
whole attention mask): train_loss 0.85 -> 0.0005 (0.00059x) while the causal val_loss went
6.84 -> 7.95, never below 6.84, 15,900x the training loss; its fixed twin's val_loss fell
0.75 -> 0.60. Over every kept corpus run, no correct run has a held-out loss that never fell
below its first while the training loss ended <= 0.02x its first with a gap above 1.1x
(fresh36 `dose_emax_srt`: train 0.017x its first, val_mse 1.08x its first, 1.1x the train
loss); the largest gap of a correct run whose held-out loss never fell is 28.6x
(fresh88 `thatch_reed_lrtest_rmsprop`, its train loss at 0.033x its first). FLOOR = 0.02
(0.01 until fresh192 `padmask_phi_tiny`, mlx-vlm phi3_v's padding mask never combined with
the causal one: train_ce 2.95 -> 0.043, 0.0147x, while the causal held-out CE went 3.76 ->
7.89, never below its first, 182x the training loss; its twin's fell 3.05 -> 0.93) and GAP =
100: dose_emax_srt, inside that floor, stands 90x short of the gap, thatch_reed outside it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..protocol import decode_number
from ..watching.facts import RawResult
from . import hints, phases, program
from .rule import Rule, Verdict

FLOOR = 0.02
GAP = 100.0
MIN_REPORTS = program.FLOOR_REPORTS

HINT = ("the training loss went to ~0 while the held-out loss `{name}` never improved: the "
        "model sees its answer at training and not at evaluation. Check what the training "
        "forward is handed: " + hints.ANSWER_LEAKS + "; training data that never changes")


def training_losses(raw: RawResult) -> list[float]:
    """The finite training losses since the program's counter last restarted."""
    return [v for r in phases.since_restart(raw)
            if (v := decode_number(r.get("loss"))) is not None and math.isfinite(v)]


def never_improved(values: list[float], floor: float) -> bool:
    """A held-out loss with >= MIN_REPORTS evaluations, none below its first, that ended
    above its first and >= GAP x the training loss's last value (`floor`)."""
    return len(values) >= MIN_REPORTS and min(values) >= values[0] > 0 \
        and values[-1] > values[0] and values[-1] >= GAP * floor


def leaked_answer(raw: RawResult, meta: dict) -> Verdict | None:
    train = training_losses(raw)
    if not program.fell_to_floor(train, FLOOR):
        return None
    for name, values in phases.held_out_since_restart(raw).items():
        if never_improved(values, train[-1]):
            return Verdict("wrong_result", "leaked_answer", f"the training loss went from "
                           f"{train[0]:.4g} to {train[-1]:.4g} ({train[-1] / train[0]:.2g}x, "
                           f"<= {FLOOR:g}x) while the held-out loss `{name}` went from "
                           f"{values[0]:.4g} to {values[-1]:.4g}, never below its first "
                           f"evaluation, {values[-1] / max(train[-1], 1e-12):.3g}x the "
                           f"training loss (>= {GAP:g}x)", HINT.format(name=name),
                           {"metric": name, "held_out": values, "train_first": train[0],
                            "train_last": train[-1], "floor": FLOOR, "gap_min": GAP})
    return None


RULES = (
    Rule("wrong_result.leaked_answer", "metrics", f"since the counter last restarted, the "
         f"training loss ends <= {FLOOR:g}x its first (>= {MIN_REPORTS} reports) while a "
         f"held-out loss (>= {MIN_REPORTS} evaluations) is never below its first, ends above "
         f"it and >= {GAP:g}x the training loss", "failure corpus: fresh110 "
         "caption_lm_padmask_causal (mlx-vlm PR 1392); no correct corpus run above 28.6x",
         leaked_answer),
)
