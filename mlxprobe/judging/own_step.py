"""Hint unit: a loss that does not fall, stepped by an optimizer the program defines.

Job: when the trend rule finds no fall and the optimizer the program built is a class of its
own (none of MLX's: `first_update.own_optimizer`), that optimizer's step size is the first
thing to read: MLX's optimizers move each parameter by about the learning rate per update,
and a hand-ported one that carries the learning rate into a scale or a denominator (an
atan2 scale `b = 1 / lr` in `atan2(m, b * sqrt(v))`, a division by lr) moves it by about
lr squared, 1e-6 at lr 1e-3: the run looks stalled, with no error. The generic not-learning
hint does not name the optimizer's own arithmetic.
Measured: fresh360 `reedbank_dictation` (dewdsp/hrm-mlx 48da54b: AdamAtan2 with b = 1/lr):
loss 3.13 -> 3.05-3.44 over 300 steps, digit error rate 0.872 at each evaluation (chance
0.900); with b = 1.0 the loss falls to 0.035. Only a hint: it never makes a verdict.
Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from .first_update import own_optimizer

HINT = ("the optimizer stepped here, `{name}`, is the program's own (none of MLX's): check the "
        "size of its step against the learning rate. MLX's optimizers move a parameter by "
        "about lr per update; a port that carries the learning rate into a scale or a "
        "denominator (an atan2 scale `b = 1 / lr` in `atan2(m, b * sqrt(v))`, a step divided "
        "by lr) moves it by about lr squared, 1e-6 at lr 1e-3, and nothing learns: compare "
        "one step with `optim.Adam` on the same gradients. ")


def note(raw: RawResult) -> str:
    """HINT naming the program-defined optimizer, or "" when it stepped one of MLX's."""
    name = own_optimizer(raw)
    return HINT.format(name=name) if name else ""
