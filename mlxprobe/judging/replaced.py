"""Rule unit: the parameters are replaced, not adjusted, at every look, and the loss does not
fall: each update writes new values unrelated to the old ones.

Job: an optimizer step adds a small change to each weight; a program that writes something
else into the model (a custom `apply_single` that returns the step instead of `parameter -
step`, `model.update(grads)`, a model rebuilt or re-initialised every step) leaves weights
that share nothing with the last look's. The parameter looks (`inside/params.py`) measure
the median, over the sampled float32 leaves, of mean |after - before| / mean |before|
between two looks: ~1 when the new values are unrelated small numbers (or ~0), ~1.4 for two
independent draws of the same spread; a run that trains moves far less between looks once
past its first steps.

Thresholds and why: every look after updates from the second on moved >= REPLACED (0.9)
while the weights did not grow (median size ratio now / before <= MAX_SCALE = 1.0: a head
trained from a small init moves by more than its own size because it grows, 1.3-2.3x per
look, fresh10 `b10_unfreeze_submodule_key_ok`; the step-returning optimizer's weights
shrink to step size, 0.08x then 0.4x),
at least MIN_LOOKS of them, spanning at least HALF of the run's updates; and the run did not
learn: its loss fell less than CONVERGED (50%, the stall rule's own), is not one player's
loss of a two-player game, no higher-is-better metric rose. Measured (failure corpus fresh9,
`b9_entropy_adam_returns_step`, mlx issue 1581): moves 1.0 and 1.0 at updates 218 and 434,
val mse 9.69 -> 9.63; its fixed twin trains. On every correct loop of the corpus the
largest such run is a k-fold loop that rebuilds its model per fold (1.4-2.4, but its loss
fell 78%) and a GAN (1.3-1.7: two players, never judged on its losses); every other correct
loop moved < 0.7 at some look after the first.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..protocol import PARAMS
from ..watching.facts import RawResult
from . import metrics, program, schedule, stalled
from .rule import Rule, Verdict

REPLACED = 0.9
MAX_SCALE = 1.0
MIN_LOOKS = 2
HALF = 0.5
CONVERGED = 0.5
HINT = ("the weights are overwritten at every update, not adjusted: something writes new "
        "values into the model instead of `parameter - step`. A custom optimizer's "
        "`apply_single` must return the parameter's new value (`return parameter - step`), "
        "not the step; `model.update(...)` takes the new parameters, never the gradients "
        "(`optimizer.update(model, grads)` applies gradients); and the model must be built "
        "once, outside the loop, not re-created or re-initialised every step")


def moves(raw: RawResult) -> list[tuple[int, int, float, float | None]]:
    """(the last look's update count, this look's, median relative change between them,
    median size ratio now / before) of each look that followed updates (the stall rule's
    looks, the change not divided by the updates)."""
    return [(last, done, float(look["move_median"]), _ratio(look))
            for last, done, look in stalled.after_updates(list(raw.of_kind(PARAMS)))]


def _ratio(look: dict) -> float | None:
    scale = look.get("scale_median")
    return None if scale is None else float(scale)


def not_grown(scale: float | None) -> bool:
    """The weights did not grow between the looks (a head trained from a small init moves
    by more than its own size because it grows: 1.3-2.3x per look)."""
    return scale is not None and scale <= MAX_SCALE


def overwritten(raw: RawResult) -> dict | None:
    found = moves(raw)
    if len(found) < MIN_LOOKS or any(m < REPLACED or not not_grown(s) for _, _, m, s in found):
        return None
    if found[-1][1] - found[0][0] < HALF * found[-1][1]:
        return None
    return {"moves": [round(m, 3) for _, _, m, _ in found],
            "scales": [s for *_, s in found], "at_updates": [u for _, u, _, _ in found],
            "replaced": REPLACED, "max_scale": MAX_SCALE}


def learning_seen(raw: RawResult) -> bool:
    series = metrics.series(raw)
    return schedule.learned(raw, CONVERGED) or program.rising_metric(series) \
        or program.two_player(raw)


def replaced(raw: RawResult, meta: dict) -> Verdict | None:
    found = overwritten(raw)
    if found is None or not program.losses(raw) or learning_seen(raw):
        return None
    shown = ", ".join(f"{m:g}" for m in found["moves"])
    return Verdict("not_learning", "replaced", f"the parameters were replaced at every look: "
                   f"median relative change {shown} between looks (>= {REPLACED} each, at "
                   f"updates {found['at_updates'][0]}-{found['at_updates'][-1]}), and the loss "
                   f"fell < {CONVERGED:.0%}", HINT, found)


RULES = (
    Rule("not_learning.replaced", "params", f"median relative parameter change >= {REPLACED} "
         f"and size ratio <= {MAX_SCALE:g} at every look after updates (>= {MIN_LOOKS} "
         f"looks), the loss fell < "
         f"{CONVERGED:.0%}, no two-player loss, no metric rose", "failure corpus: "
         "b9_entropy_adam_returns_step (fresh9, mlx issue 1581); correct loops: < 0.7 at a "
         "look after the first", replaced),
)
