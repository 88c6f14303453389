"""Signal: the parameters settled at a fixed point of a constant, non-zero learning rate.

Job: tell a deterministic descent that converged from a model that never learned, for the
rules that read a flat loss as no learning (`constant`, the trend rule). An optimizer step
with a non-zero learning rate and a non-zero gradient changes a float32 parameter's bits
unless the step is below half a unit in the last place: parameters that moved and then
stood bit-still over many updates, at a rate that is a constant the program never set to
0, are at their optimizer's fixed point (a full-batch fit converged). A stale model or
updates that miss the model never move at all (`params.frozen_all`); a schedule that
reached 0 also stops them, so a schedule, an array rate or a rate the program set stands
down (`unapplied_rate.built_constants`), as does a loss that still varies over the still
looks (`standstill.fixed_point`).

Thresholds and why: at least one comparison that changed, then trailing comparisons that
changed nothing after updates, up to the last look, spanning >= params.MIN_UPDATES (100)
updates; every optimizer built with a constant rate > 0. Measured (failure corpus fresh219
`sphagnum_cover_ridge_sgd_ok`, mlx issue 440's fixed twin): full-batch SGD at lr 0.05 on a
ridge fit moved the weights by a median 4.17 (relative) by update 1523, then changed
nothing over updates 1523-2928, the loss `val_mse 0.5522` at all 11 reports; fresh12
`a12_cosine_decay_steps_per_epoch_broken` (a cosine schedule over epochs, 0 after a few
steps) has no constant rate and stays `constant`.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from . import params, standstill
from .unapplied_rate import built_constants


def settled(raw: RawResult) -> dict | None:
    """Evidence that the parameters stood at a fixed point of a constant rate, or None."""
    constants = built_constants(raw)
    compared = params.looks(raw)
    if not constants or min(constants) <= 0 or not compared or params.nonfinite_seen(raw):
        return None
    moved, tail = standstill.still_tail(compared)
    if moved is None or not tail or tail[-1] is not compared[-1]:
        return None
    since, last = standstill.updates_of(moved), standstill.updates_of(tail[-1])
    if last - since < params.MIN_UPDATES or not standstill.fixed_point(raw, moved.get("t")):
        return None
    return {"still_from_update": since, "still_to_update": last, "still_looks": len(tail),
            "learning_rates": constants, "min_updates": params.MIN_UPDATES}
