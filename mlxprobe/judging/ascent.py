"""Fix text: a loss that rose at every report and stayed finite.

Job: `note(losses)` leads an explosion's fix when the judged loss rose at each of at least
MIN_REPORTS reports in a row, ending finite. A step too large makes a loss bounce or overflow
to inf within a few reports; a steady climb at every report means each update follows a
gradient that is not this loss's: the update minimises another objective than the one
printed, its sign is flipped, or the step adds the gradient. Measured on fresh24
`d24_update_hardcoded_ce` (an update hard-coding `nn.losses.cross_entropy` on a one-output
regressor, linear and unbounded in the prediction): the printed train mse rose at each of
25 epochs, 1.99e4 -> 1.57e12, while its twin, the update on the mse, fell to 0.016; and on
fresh35 `precision_logdet_detached` (the log-determinant of a precision-matrix NLL held
constant by `mx.stop_gradient`): its NLL rose at each of 11 reports, 19.4 -> 245.7, while its
twin's stayed at its floor, 10.2-10.7. A fix text only: no verdict depends on it.

Must not import: mlx, the watching side.
"""

from __future__ import annotations

import math

MIN_REPORTS = 6

ASCENT = (
    "the loss rose at every one of its {n} reports and stayed finite, so each update followed "
    "a gradient that is not this loss's: the update minimises another objective than the "
    "one printed (a classification loss, cross_entropy, applied to a regression model's "
    "float targets is linear in the prediction and unbounded below, so the predictions run "
    "off while the printed mse grows: use the configured loss, mse, for the gradient too), "
    "the loss's sign is flipped (`-loss`: gradient ascent), the step adds the gradient "
    "(`p + lr * g`), or a term of the printed loss is held out of its gradient "
    "(`mx.stop_gradient` on it, or computed outside the differentiated function), so the "
    "update minimises the other terms alone (a Gaussian NLL whose log-determinant is a "
    "constant drives the precision to 0 while the printed NLL grows): keep every term "
    "differentiable; ")


def note(losses: list[float]) -> str:
    """The ascent lead when every report rose over the one before, else ""."""
    if len(losses) < MIN_REPORTS or not all(math.isfinite(v) for v in losses):
        return ""
    rising = all(b > a for a, b in zip(losses, losses[1:]))
    return ASCENT.format(n=len(losses)) if rising else ""
