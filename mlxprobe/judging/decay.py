"""Fix text: the weight decay of an Adam-style optimizer caps the weights near 1 / decay.

Job: `note(raw)` leads a `not_learning` hint when the program stepped AdamW or Lion with
`weight_decay` > 0 (read from the optimizer's own settings at its first update, as MLX
keeps them; `AdamW`'s default is 0.01). Their step has a size of about the learning rate
whatever the gradient's scale, and the decoupled decay takes learning rate x weight_decay x
w from every weight at each step: the two balance at |w| of about 1 / weight_decay (100 for
the default), whatever the learning rate. A model that needs a larger weight (a target on
its raw scale, an intercept of 470) stops short of it and its loss levels off high. Measured
on fresh56 `kwh_weekly_adamw` (mlx PR 2557: the docstring gave AdamW's default decay as 0):
a weekly-kWh regression (mean 470) with AdamW(learning_rate=1.0) held its intercept at
100.00 and its validation RMSE at 371 after falling to 335; with weight_decay=0 it reached
18.2. Only a loss that fell by 20% at some report gets the note (over the corpus, two runs
flat from their first report with AdamW had other causes). A fix text only: no verdict
depends on it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from ..watching.facts import RawResult
from . import program

DECOUPLED = frozenset({"AdamW", "Lion"})
FELL = 0.8  # the loss fell by 20% at some report, then stopped: held back, not stuck
NOTE = ("the optimizer ({name}) decays every weight by learning rate x weight_decay "
        "({decay:g}) at each step while its own step is about the learning rate, so the two "
        "balance at |w| of about 1 / weight_decay = {cap:g}: a weight the model needs beyond "
        "that (a target on its raw scale, a large intercept) never gets there. Standardise "
        "the targets, or set weight_decay=0.0 (AdamW's default is 0.01) or exclude biases "
        "from the decay; ")


def note(raw: RawResult) -> str:
    """The decay's cap, or "" when the program's optimizer applies no decoupled decay or the
    loss never fell by FELL from its first report (a loss flat from the start has another
    cause: the decay pulls a weight back only once it has grown)."""
    found = decoupled(raw)
    losses = [v for v in program.losses(raw) if math.isfinite(v)]
    if found is None or not losses or losses[0] <= 0 or min(losses) > FELL * losses[0]:
        return ""
    return NOTE.format(name=found[0], decay=found[1], cap=1 / found[1])


def decoupled(raw: RawResult) -> tuple[str, float] | None:
    """(the optimizer's name, its weight_decay) when the program stepped AdamW or Lion with
    a decay > 0, else None."""
    name = next((n for n in program.optimizer_names(raw) if n in DECOUPLED), None)
    rate = program.optimizer_settings(raw).get("weight_decay")
    if name is None or not isinstance(rate, (int, float)) or rate <= 0:
        return None
    return name, float(rate)
