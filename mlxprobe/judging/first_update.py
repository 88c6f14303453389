"""Hint unit: the parameters turned non-finite at the first update of an optimizer the
program wrote itself.

Job: when the first parameter look after the first update already holds a non-finite value
and the optimizer's class is none of MLX's (`MLX_OPTIMIZERS`, checked against the installed
mlx by a test), the first step's arithmetic is what to read first: a bias correction
`1 - beta ** t` taken at t = 0 (a step count never incremented, or incremented after the
correction) divides by zero, and so does a denominator `sqrt(v) + eps` with eps 0 or a state
initialised to zeros and divided by. MLX's own optimizers have none of these, and the
generic NaN hint (`hints.for_non_finite`) names the model's ops instead.

Measured: fresh359 `quillpond_lattice_reasoner` (dewdsp/hrm-mlx eda963d: an AdamATan2 whose
`state["step"]` started at 0 and was never incremented): loss 3.4604 at step 1, NaN from
step 2; the first look (after 1 update) found `puzzle` non-finite, every group at the next.
Its fixed twin trains. Over the 672 runs whose raw facts are kept (fresh303-fresh359), the
hint changes on this run only (the verdict of none).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..protocol import PARAMS, decode_number
from ..watching.facts import RawResult
from . import phases, program

MLX_OPTIMIZERS = frozenset({
    "SGD", "RMSprop", "Adagrad", "AdaDelta", "Adam", "AdamW", "Adamax", "Lion", "Adafactor",
    "Muon", "MultiOptimizer", "Optimizer"})
FIRST_UPDATES = 1  # the look that saw the first non-finite value came after this many updates

HINT = ("the parameters held NaN/inf right after the first update of `{name}`, an optimizer "
        "the program defines (none of MLX's): read its first step. A bias correction "
        "`1 - beta ** t` taken at t = 0 is 0 and divides the moments by zero (a step count "
        "never incremented, or incremented after the correction: `state[\"step\"] += 1` "
        "before `1 - beta1 ** step`); so does a denominator `mx.sqrt(v) + eps` with eps 0, "
        "or a state initialised to zeros and divided by; compare the first step with "
        "`optim.Adam` on the same gradients. ")


def first_bad_look(raw: RawResult) -> dict | None:
    """The first parameter look that holds a non-finite value, or None."""
    return next((r for r in raw.of_kind(PARAMS) if r.get("nonfinite")), None)


def own_optimizer(raw: RawResult) -> str | None:
    """The first optimizer the program built whose class is none of MLX's, or None."""
    return next((n for n in program.optimizer_names(raw) if n not in MLX_OPTIMIZERS), None)


def finite_start(raw: RawResult) -> bool:
    """The program's first loss report is finite: the model before any update computed."""
    records = phases.loss_records(raw)
    first = decode_number(records[0]["loss"]) if records else None
    return first is not None and math.isfinite(first)


def note(raw: RawResult) -> str:
    """HINT when a program-defined optimizer's first update made the parameters non-finite
    after a finite first loss."""
    look = first_bad_look(raw)
    updates = look.get("updates") if look else None
    name = own_optimizer(raw) if isinstance(updates, int) and updates <= FIRST_UPDATES \
        and finite_start(raw) else None
    return HINT.format(name=name) if name else ""
